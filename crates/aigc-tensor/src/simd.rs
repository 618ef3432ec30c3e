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

/// Returns `eˣ` with a relative error below 2e-7 (about 2 ulp), branch-free
/// so that loops calling it vectorise.
///
/// Below −87.3 the result is 0 and above 88.3 it is 88.3's value, 2.2e38;
/// NaN stays NaN. Method (as in the Cephes library's `expf`): x = n·ln 2 + r
/// with |r| ≤ ln 2 / 2, a degree-6 polynomial for eʳ, and 2ⁿ built in the
/// exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two, so that n·LN2_HIGH is exact for |n| ≤ 128.
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    const MIN_INPUT: f32 = -87.3;
    const MAX_INPUT: f32 = 88.3;

    let clamped = x.clamp(MIN_INPUT, MAX_INPUT);
    // `shifted` is 1.5·2²³ + n exactly, so its low bits hold the integer n.
    let shifted = clamped * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = clamped - n * LN2_HIGH - n * LN2_LOW;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
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

/// Writes `gelu(x[i])` into `out[i]`, vectorised with AVX2 when available.
pub fn gelu_into(out: &mut [f32], x: &[f32]) {
    #[inline(always)]
    fn body(out: &mut [f32], x: &[f32]) {
        for (o, &x) in out.iter_mut().zip(x) {
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
/// vectorised with AVX2 when available.
pub fn gelu_backward_into(out: &mut [f32], x: &[f32], g: &[f32]) {
    #[inline(always)]
    fn body(out: &mut [f32], x: &[f32], g: &[f32]) {
        for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
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
}
