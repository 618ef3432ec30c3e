//! Building blocks for hand-written CPU loops that the compiler can vectorise.
//!
//! The release build targets baseline x86-64 (SSE2), so a loop compiled the
//! ordinary way uses 4-wide vectors and no FMA. A kernel that wants AVX2
//! writes its body once as an `#[inline(always)]` function, wraps it in an
//! `unsafe fn` marked `#[target_feature(enable = "avx2,fma")]`, and calls
//! that wrapper only when [`avx2_fma_available`] is true. Everything here is
//! `#[inline(always)]` for that reason: inlined into such a wrapper, it is
//! compiled for AVX2.
//!
//! The helpers avoid what blocks vectorisation: library calls (`expf`,
//! `tanhf`) and sums whose order the compiler may not change. Sums keep
//! [`LANES`] partial sums and add them up in a fixed order, so a result
//! depends only on the inputs, never on the thread or the CPU features.

/// Number of partial sums in [`dot`] and [`sum`]: two AVX2 registers.
pub const LANES: usize = 16;

/// Returns whether this CPU has AVX2 and FMA (checked once, then cached by the standard library).
#[inline]
pub fn avx2_fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Returns `Σ a[i]·b[i]` over the shorter length, with [`LANES`] partial sums.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut partial = [0.0f32; LANES];
    let mut a_chunks = a.chunks_exact(LANES);
    let mut b_chunks = b.chunks_exact(LANES);
    for (a_chunk, b_chunk) in (&mut a_chunks).zip(&mut b_chunks) {
        for lane in 0..LANES {
            partial[lane] += a_chunk[lane] * b_chunk[lane];
        }
    }
    for (lane, (&x, &y)) in a_chunks.remainder().iter().zip(b_chunks.remainder()).enumerate() {
        partial[lane] += x * y;
    }
    add_lanes(&partial)
}

/// Returns `Σ a[i]`, with [`LANES`] partial sums.
#[inline(always)]
pub fn sum(a: &[f32]) -> f32 {
    let mut partial = [0.0f32; LANES];
    let mut chunks = a.chunks_exact(LANES);
    for chunk in &mut chunks {
        for lane in 0..LANES {
            partial[lane] += chunk[lane];
        }
    }
    for (lane, &x) in chunks.remainder().iter().enumerate() {
        partial[lane] += x;
    }
    add_lanes(&partial)
}

/// Returns `Σ f(a[i])`, with [`LANES`] partial sums.
#[inline(always)]
pub fn sum_map(a: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut partial = [0.0f32; LANES];
    let mut chunks = a.chunks_exact(LANES);
    for chunk in &mut chunks {
        for lane in 0..LANES {
            partial[lane] += f(chunk[lane]);
        }
    }
    for (lane, &x) in chunks.remainder().iter().enumerate() {
        partial[lane] += f(x);
    }
    add_lanes(&partial)
}

/// Returns `Σ f(a[i], b[i], c[i])` over the shortest length, with [`LANES`] partial sums.
#[inline(always)]
pub fn sum_map3(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len()).min(c.len());
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    let mut partial = [0.0f32; LANES];
    let full = n / LANES * LANES;
    for start in (0..full).step_by(LANES) {
        let (a, b, c) = (&a[start..start + LANES], &b[start..start + LANES], &c[start..start + LANES]);
        for lane in 0..LANES {
            partial[lane] += f(a[lane], b[lane], c[lane]);
        }
    }
    for i in full..n {
        partial[i - full] += f(a[i], b[i], c[i]);
    }
    add_lanes(&partial)
}

/// Adds the partial sums pairwise, in a fixed order.
#[inline(always)]
fn add_lanes(partial: &[f32; LANES]) -> f32 {
    let mut half = [0.0f32; LANES / 2];
    for lane in 0..LANES / 2 {
        half[lane] = partial[lane] + partial[lane + LANES / 2];
    }
    let mut quarter = [0.0f32; LANES / 4];
    for lane in 0..LANES / 4 {
        quarter[lane] = half[lane] + half[lane + LANES / 4];
    }
    (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

/// `y[i] += alpha·x[i]` over the shorter length.
#[inline(always)]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// `y[i] *= alpha`.
#[inline(always)]
pub fn scale(alpha: f32, y: &mut [f32]) {
    for y in y.iter_mut() {
        *y *= alpha;
    }
}

/// The constants of [`exp`] and [`exp_lanes`], which must stay identical for
/// the two to agree bit for bit.
mod exp_constants {
    pub const LOG2_E: f32 = std::f32::consts::LOG2_E;
    /// ln 2 split in two, so that n·LN2_HIGH is exact for |n| ≤ 128.
    pub const LN2_HIGH: f32 = 0.693_359_4;
    pub const LN2_LOW: f32 = -2.121_944_4e-4;
    /// Adding and subtracting 1.5·2²³ rounds to the nearest integer.
    pub const ROUND: f32 = 12_582_912.0;
    pub const MIN_INPUT: f32 = -87.3;
    pub const MAX_INPUT: f32 = 88.3;
    /// Coefficients of the degree-6 polynomial for eʳ, highest first, in
    /// Horner order: eʳ ≈ 1 + r + r²·p(r).
    pub const POLYNOMIAL: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1];
}

/// Returns `eˣ` with a relative error below 2e-7 (about 2 ulp), branch-free
/// so that loops calling it vectorise.
///
/// Below −87.3 the result is 0 and above 88.3 it is 88.3's value, 2.2e38;
/// NaN stays NaN. Method (as in the Cephes library's `expf`): x = n·ln 2 + r
/// with |r| ≤ ln 2 / 2, a degree-6 polynomial for eʳ, and 2ⁿ built in the
/// exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    use exp_constants::*;

    let clamped = x.clamp(MIN_INPUT, MAX_INPUT);
    // `shifted` is 1.5·2²³ + n exactly, so its low bits hold the integer n.
    let shifted = clamped * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = clamped - n * LN2_HIGH - n * LN2_LOW;
    let mut p = POLYNOMIAL[0];
    for coefficient in &POLYNOMIAL[1..] {
        p = p * r + coefficient;
    }
    let e_r = p * r * r + r + 1.0;
    // 2ⁿ from its exponent bits, n + 127 (in 1..=254 after the clamp);
    // integer arithmetic on the bits, because a float-to-int cast does not vectorise.
    let biased_exponent = shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127);
    let two_to_n = f32::from_bits(biased_exponent << 23);
    let value = e_r * two_to_n;
    if x < MIN_INPUT {
        0.0
    } else if x.is_nan() {
        x
    } else {
        value
    }
}

/// Returns the logistic sigmoid `1 / (1 + e⁻ˣ)` through [`exp`].
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// √(2/π), the constant of the tanh approximation of GELU.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The cubic coefficient of the tanh approximation of GELU.
const GELU_CUBIC: f32 = 0.044715;

/// GELU with the tanh approximation, `0.5·x·(1 + tanh(u))` with
/// u = √(2/π)·(x + 0.044715·x³), computed as `x·σ(2u)` because
/// 0.5·(1 + tanh(u)) = σ(2u). Agrees with the tanh form evaluated in f64
/// to 1e-6·(1 + |gelu(x)|) (a test checks −20 ≤ x ≤ 20).
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
    x * sigmoid(2.0 * u)
}

/// Returns the derivative of [`gelu`]: with s = σ(2u),
/// `s + x·s·(1 − s)·2u'` and u' = √(2/π)·(1 + 3·0.044715·x²).
///
/// s·(1 − s) is computed as e·s² with e = e⁻²ᵘ, which keeps its precision
/// where s rounds to 1.
#[inline(always)]
pub fn gelu_grad(x: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
    let e = exp(-2.0 * u);
    let s = 1.0 / (1.0 + e);
    s + x * (e * s * s) * (2.0 * du)
}

/// Elements per step of [`gelu_into`] and [`gelu_backward_into`]: four AVX2 registers.
// TODO: GELU is still bound by its ~40 vector operations per 8 elements.
// Fused multiply-adds in the polynomials would remove about a quarter of
// them, but would change the results against the scalar `gelu`, whose
// bitwise equality with `Tensor::gelu` is documented.
const GELU_GROUP: usize = 32;

/// Applies `f` to each lane.
#[inline(always)]
fn map_lanes<const N: usize>(lanes: &mut [f32; N], f: impl Fn(f32) -> f32) {
    for lane in lanes.iter_mut() {
        *lane = f(*lane);
    }
}

/// [`exp`] of N values, one step of the formula at a time over all lanes.
///
/// With N = 32, each step compiles to four independent AVX2 instructions,
/// where a loop over [`exp`] gives one long dependency chain per vector
/// that the out-of-order core overlaps poorly with the next (on a Zen 4
/// core GELU, which calls it, ran about 15 % faster this way). Every lane
/// gets the same operations in the same order as [`exp`], so the results
/// are bitwise equal.
#[inline(always)]
pub fn exp_lanes<const N: usize>(x: &[f32; N]) -> [f32; N] {
    use exp_constants::*;

    let mut clamped = *x;
    map_lanes(&mut clamped, |v| v.clamp(MIN_INPUT, MAX_INPUT));
    let mut shifted = clamped;
    map_lanes(&mut shifted, |c| c * LOG2_E + ROUND);
    let mut r = [0.0f32; N];
    for lane in 0..N {
        let n = shifted[lane] - ROUND;
        r[lane] = clamped[lane] - n * LN2_HIGH - n * LN2_LOW;
    }
    let mut p = [POLYNOMIAL[0]; N];
    for &coefficient in &POLYNOMIAL[1..] {
        for lane in 0..N {
            p[lane] = p[lane] * r[lane] + coefficient;
        }
    }
    let mut out = [0.0f32; N];
    for lane in 0..N {
        let e_r = p[lane] * r[lane] * r[lane] + r[lane] + 1.0;
        let biased_exponent = shifted[lane].to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127);
        let value = e_r * f32::from_bits(biased_exponent << 23);
        out[lane] = if x[lane] < MIN_INPUT {
            0.0
        } else if x[lane].is_nan() {
            x[lane]
        } else {
            value
        };
    }
    out
}

/// Replaces each value by its [`exp`] (bitwise equal), 32 lanes at a time
/// through [`exp_lanes`], then 8, then one.
#[inline(always)]
pub fn exp_in_place(values: &mut [f32]) {
    let mut groups = values.chunks_exact_mut(32);
    for group in &mut groups {
        let group: &mut [f32; 32] = group.try_into().expect("a whole group");
        *group = exp_lanes(group);
    }
    let mut eights = groups.into_remainder().chunks_exact_mut(8);
    for group in &mut eights {
        let group: &mut [f32; 8] = group.try_into().expect("a whole group");
        *group = exp_lanes(group);
    }
    for value in eights.into_remainder() {
        *value = exp(*value);
    }
}

/// Returns −2u of [`gelu`] for each lane, the argument of its e⁻²ᵘ.
#[inline(always)]
fn gelu_exponents(x: &[f32; GELU_GROUP]) -> [f32; GELU_GROUP] {
    let mut exponents = [0.0f32; GELU_GROUP];
    for (t, &x) in exponents.iter_mut().zip(x) {
        let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
        *t = -(2.0 * u);
    }
    exponents
}

/// Writes `gelu(x[i])` into `out[i]`, vectorised with AVX2 when available.
/// Bitwise equal to [`gelu`] on each element.
pub fn gelu_into(out: &mut [f32], x: &[f32]) {
    #[inline(always)]
    fn body(out: &mut [f32], x: &[f32]) {
        let n = out.len().min(x.len());
        let (out, x) = (&mut out[..n], &x[..n]);
        let mut out_groups = out.chunks_exact_mut(GELU_GROUP);
        let mut x_groups = x.chunks_exact(GELU_GROUP);
        for (out, x) in (&mut out_groups).zip(&mut x_groups) {
            let x: &[f32; GELU_GROUP] = x.try_into().expect("a whole group");
            let e = exp_lanes(&gelu_exponents(x));
            for ((o, &x), &e) in out.iter_mut().zip(x).zip(&e) {
                *o = x * (1.0 / (1.0 + e)); // x·σ(2u)
            }
        }
        for (o, &x) in out_groups.into_remainder().iter_mut().zip(x_groups.remainder()) {
            *o = gelu(x);
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn body_avx2(out: &mut [f32], x: &[f32]) {
        body(out, x)
    }
    #[cfg(target_arch = "x86_64")]
    if avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { body_avx2(out, x) };
        return;
    }
    body(out, x)
}

/// Writes `g[i]·gelu'(x[i])` into `out[i]`, the backward pass of GELU,
/// vectorised with AVX2 when available. Bitwise equal to `g·`[`gelu_grad`]
/// on each element.
pub fn gelu_backward_into(out: &mut [f32], x: &[f32], g: &[f32]) {
    #[inline(always)]
    fn body(out: &mut [f32], x: &[f32], g: &[f32]) {
        let n = out.len().min(x.len()).min(g.len());
        let (out, x, g) = (&mut out[..n], &x[..n], &g[..n]);
        let mut out_groups = out.chunks_exact_mut(GELU_GROUP);
        let mut x_groups = x.chunks_exact(GELU_GROUP);
        let mut g_groups = g.chunks_exact(GELU_GROUP);
        for ((out, x), g) in (&mut out_groups).zip(&mut x_groups).zip(&mut g_groups) {
            let x: &[f32; GELU_GROUP] = x.try_into().expect("a whole group");
            let e = exp_lanes(&gelu_exponents(x));
            for (((o, &x), &g), &e) in out.iter_mut().zip(x).zip(g).zip(&e) {
                // The steps of gelu_grad, with e = e⁻²ᵘ from above.
                let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
                let s = 1.0 / (1.0 + e);
                *o = g * (s + x * (e * s * s) * (2.0 * du));
            }
        }
        let remainder = out_groups.into_remainder().iter_mut().zip(x_groups.remainder()).zip(g_groups.remainder());
        for ((o, &x), &g) in remainder {
            *o = g * gelu_grad(x);
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn body_avx2(out: &mut [f32], x: &[f32], g: &[f32]) {
        body(out, x, g)
    }
    #[cfg(target_arch = "x86_64")]
    if avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { body_avx2(out, x, g) };
        return;
    }
    body(out, x, g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_within_2e7_relative() {
        let mut worst = 0.0f64;
        for i in -87_000..88_000 {
            let x = i as f32 * 1e-3;
            let expected = (x as f64).exp();
            let relative = ((exp(x) as f64 - expected) / expected).abs();
            worst = worst.max(relative);
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(f32::INFINITY).is_finite());
    }

    #[test]
    fn gelu_and_gelu_grad_match_f64() {
        for i in -4000..4000 {
            let x = i as f32 * 5e-3;
            let x64 = x as f64;
            let u = (2.0 / std::f64::consts::PI).sqrt() * (x64 + 0.044715 * x64.powi(3));
            let du = (2.0 / std::f64::consts::PI).sqrt() * (1.0 + 3.0 * 0.044715 * x64 * x64);
            let tanh = u.tanh();
            let expected = 0.5 * x64 * (1.0 + tanh);
            let expected_grad = 0.5 * (1.0 + tanh) + 0.5 * x64 * (1.0 - tanh * tanh) * du;
            assert!((gelu(x) as f64 - expected).abs() <= 1e-6 * (1.0 + expected.abs()), "gelu at x = {x}");
            assert!((gelu_grad(x) as f64 - expected_grad).abs() <= 1e-6 * (1.0 + expected_grad.abs()), "gelu_grad at x = {x}");
        }
    }

    #[test]
    fn dot_and_sum_cover_remainders() {
        for n in [0, 1, 15, 16, 17, 33] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..n).map(|i| 2.0 - i as f32 * 0.5).collect();
            let expected: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - expected).abs() < 1e-3, "n = {n}");
            assert_eq!(sum(&a), a.iter().sum::<f32>(), "n = {n}");
        }
    }

    #[test]
    fn exp_in_place_matches_exp_bitwise() {
        // 75 values: two groups of 32, one of 8 and 3 single ones.
        let mut x: Vec<f32> = (0..68).map(|i| (i as f32 - 40.0) * 3.1).collect();
        x.extend([0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-30, -1e-30]);
        let mut out = x.clone();
        exp_in_place(&mut out);
        for (&o, &x) in out.iter().zip(&x) {
            assert_eq!(o.to_bits(), exp(x).to_bits(), "exp at x = {x}");
        }
    }

    #[test]
    fn gelu_into_matches_scalar_bitwise() {
        // 1000 values (31 groups and a remainder) from −100 to 100, with the edges.
        let mut x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.2).collect();
        x.extend([0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-30, -1e-30]);
        let g: Vec<f32> = (0..x.len()).map(|i| 0.5 - (i % 7) as f32 * 0.25).collect();
        let mut out = vec![0.0f32; x.len()];
        gelu_into(&mut out, &x);
        for (&o, &x) in out.iter().zip(&x) {
            assert_eq!(o.to_bits(), gelu(x).to_bits(), "gelu at x = {x}");
        }
        gelu_backward_into(&mut out, &x, &g);
        for ((&o, &x), &g) in out.iter().zip(&x).zip(&g) {
            assert_eq!(o.to_bits(), (g * gelu_grad(x)).to_bits(), "gelu_grad at x = {x}");
        }
    }
}
