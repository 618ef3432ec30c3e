//! `Bf16Kernel` against an f64 loop over the same operands rounded to
//! bfloat16: on every layout (each of its packing paths), across its block
//! boundaries (MR = 12, NR = 32, MC = 144, KC = 512, NC = 1024), with α, β,
//! NaN and the thread count.
//!
//! On CPUs without AVX-512 BF16 the kernel computes in f32, and these tests
//! check that path against unrounded operands instead.

mod common;

use aigc_tensor::gemm::{self, round_to_bf16, Bf16Kernel, MatmulPrecision, NaiveKernel};
use common::random;
use common::strided::{assert_empty_products_touch_nothing, assert_zero_depth_scales_c, sgemm, Layout, Strided, LAYOUTS};

/// Returns `x` as the kernel rounds an operand before multiplying.
fn operand(x: f32) -> f32 {
    if Bf16Kernel::is_supported() {
        round_to_bf16(x)
    } else {
        x
    }
}

/// Checks `Bf16Kernel` for `C ← α·A·B + β·C` against an f64 loop over the
/// rounded operands, and that C's padding is left untouched.
fn check(alpha: f32, a: &Strided, b: &Strided, beta: f32, c: &Strided) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let mut actual = c.clone();
    sgemm(&Bf16Kernel, alpha, a, b, beta, &mut actual);

    for i in 0..m {
        for j in 0..n {
            let product: f64 = (0..k).map(|p| operand(a.get(i, p)) as f64 * operand(b.get(p, j)) as f64).sum();
            let old = if beta == 0.0 { 0.0 } else { beta as f64 * c.get(i, j) as f64 };
            let expected = alpha as f64 * product + old;
            let tolerance = 2e-6 * k.max(1) as f64 * (alpha.abs() as f64).max(1.0) + 1e-6 * old.abs();
            let got = actual.get(i, j) as f64;
            assert!(
                (got - expected).abs() <= tolerance,
                "bf16 at ({i}, {j}) of {m}×{k}×{n}, α = {alpha}, β = {beta}: got {got}, expected {expected}"
            );
        }
    }
    let is_element = c.element_mask();
    for (index, (&after, &before)) in actual.data.iter().zip(&c.data).enumerate() {
        if !is_element[index] {
            assert!(after.to_bits() == before.to_bits(), "bf16 wrote C's padding at buffer index {index}");
        }
    }
}

#[test]
fn rounding_is_to_nearest_even() {
    let step = 2f32.powi(-7); // one unit in the last place of a bfloat16 near 1
    assert_eq!(round_to_bf16(1.0), 1.0);
    assert_eq!(round_to_bf16(1.0 + step), 1.0 + step);
    // Halfway cases go to the even neighbour.
    assert_eq!(round_to_bf16(1.0 + step / 2.0), 1.0);
    assert_eq!(round_to_bf16(1.0 + 3.0 * step / 2.0), 1.0 + 2.0 * step);
    // Just above halfway goes up.
    assert_eq!(round_to_bf16(1.0 + step / 2.0 + 2f32.powi(-20)), 1.0 + step);
    assert_eq!(round_to_bf16(-1.0 - step / 2.0 - 2f32.powi(-20)), -1.0 - step);
}

#[test]
fn rounding_keeps_special_values() {
    assert!(round_to_bf16(f32::NAN).is_nan());
    assert!(round_to_bf16(f32::from_bits(0x7fff_ffff)).is_nan(), "a NaN with every fraction bit set stays NaN");
    assert_eq!(round_to_bf16(f32::INFINITY), f32::INFINITY);
    assert_eq!(round_to_bf16(f32::NEG_INFINITY), f32::NEG_INFINITY);
    assert_eq!(round_to_bf16(f32::MAX), f32::INFINITY, "past the largest bfloat16, rounding overflows");
    assert_eq!(round_to_bf16(-0.0).to_bits(), (-0.0f32).to_bits());
    // Subnormal inputs become zeros of the same sign, as in the hardware.
    assert_eq!(round_to_bf16(1e-40).to_bits(), 0.0f32.to_bits());
    assert_eq!(round_to_bf16(-1e-40).to_bits(), (-0.0f32).to_bits());
    assert_eq!(round_to_bf16(f32::MIN_POSITIVE), f32::MIN_POSITIVE);
}

#[test]
fn every_layout_of_a_b_and_c() {
    // 25 × 37 × 67: edge tiles both ways (25 = 2·12 + 1, 67 = 2·32 + 3) and
    // an odd depth, so the last k-pair is half padding.
    let mut seed = 100;
    for a_layout in LAYOUTS {
        for b_layout in LAYOUTS {
            for c_layout in [Layout::RowMajor, Layout::ColumnMajor, Layout::EveryOther] {
                let a = Strided::random(25, 37, a_layout, seed);
                let b = Strided::random(37, 67, b_layout, seed + 1);
                let c = Strided::random(25, 67, c_layout, seed + 2);
                check(1.0, &a, &b, 0.0, &c);
                check(0.5, &a, &b, -1.5, &c);
                seed += 3;
            }
        }
    }
}

#[test]
fn alpha_beta_across_block_boundaries() {
    // Full tiles only; k > KC, so β applies once and later k blocks add;
    // m > MC and n > NC with partial last blocks; depths 1 and 2.
    let shapes = [(24, 64, 64), (37, 600, 40), (150, 5, 1060), (145, 513, 33), (13, 1, 35), (12, 2, 32)];
    let mut seed = 200;
    for (m, k, n) in shapes {
        for alpha in [1.0, -2.0] {
            for beta in [0.0, 1.0, -0.75] {
                for layout in [Layout::RowMajor, Layout::ColumnMajor] {
                    let a = Strided::random(m, k, layout, seed);
                    let b = Strided::random(k, n, layout, seed + 1);
                    let c = Strided::random(m, n, Layout::PaddedRows, seed + 2);
                    check(alpha, &a, &b, beta, &c);
                    seed += 3;
                }
            }
        }
    }
}

#[test]
fn vectors_and_single_rows() {
    let mut seed = 250;
    for (m, k, n) in [(1, 1, 1), (1, 37, 75), (75, 37, 1), (1, 600, 9), (3, 2, 1)] {
        for a_layout in LAYOUTS {
            for b_layout in LAYOUTS {
                let a = Strided::random(m, k, a_layout, seed);
                let b = Strided::random(k, n, b_layout, seed + 1);
                let c = Strided::random(m, n, Layout::RowMajor, seed + 2);
                check(1.0, &a, &b, 0.0, &c);
                seed += 3;
            }
        }
    }
}

#[test]
fn beta_zero_never_reads_nan_in_c() {
    for (m, k, n) in [(12, 8, 32), (13, 9, 33), (1, 600, 3), (70, 20, 1)] {
        for layout in [Layout::RowMajor, Layout::ColumnMajor, Layout::PaddedRows] {
            let a = Strided::random(m, k, Layout::RowMajor, 300);
            let b = Strided::random(k, n, Layout::RowMajor, 301);
            let mut c = Strided::random(m, n, layout, 302);
            c.data.fill(f32::NAN);
            check(-3.0, &a, &b, 0.0, &c);
        }
    }
}

#[test]
fn k_zero_scales_c_by_beta() {
    assert_zero_depth_scales_c(&Bf16Kernel);
}

#[test]
fn empty_m_or_n_touches_nothing() {
    assert_empty_products_touch_nothing(&Bf16Kernel);
}

#[test]
fn non_finite_operands_reach_the_output() {
    // A diverging step must still show up as NaN or inf after rounding, or
    // the trainer's non-finite check would miss it.
    let (m, k, n) = (14, 40, 35);
    for (layout, bad) in [(Layout::RowMajor, f32::NAN), (Layout::ColumnMajor, f32::INFINITY), (Layout::EveryOther, f32::NAN)] {
        let mut a = Strided::random(m, k, layout, 600);
        let index = a.index(5, 17);
        a.data[index] = bad;
        let b = Strided::random(k, n, Layout::RowMajor, 601);
        let mut c = Strided::random(m, n, Layout::RowMajor, 602);
        sgemm(&Bf16Kernel, 1.0, &a, &b, 0.0, &mut c);
        for j in 0..n {
            assert!(!c.get(5, j).is_finite(), "{layout:?}: row 5 column {j} is {}", c.get(5, j));
        }
        assert!(c.get(4, 0).is_finite(), "{layout:?}: row 4 stays finite");
        assert!(c.get(6, 0).is_finite(), "{layout:?}: row 6 stays finite");
    }
}

#[test]
fn matmul_bits_independent_of_thread_count() {
    let cases = [
        (random(&[301, 700], 700), random(&[700, 50], 701)),
        (random(&[40, 200], 702), random(&[333, 200], 703).t().unwrap()),
        (random(&[530, 20], 704).t().unwrap(), random(&[530, 33], 705)),
        (random(&[3, 100, 150], 706), random(&[150, 90], 707)),
    ];
    for (a, b) in &cases {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let expected = pool.install(|| a.matmul_with(b, &Bf16Kernel)).unwrap().to_vec();
        for threads in [2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let actual = pool.install(|| a.matmul_with(b, &Bf16Kernel)).unwrap().to_vec();
            let differing = actual.iter().zip(&expected).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
            assert_eq!(differing, 0, "{threads} threads, {:?} · {:?}", a.shape(), b.shape());
        }
    }
}

#[test]
fn close_to_the_f32_product() {
    // Rounding each operand to 8 significant bits costs about 2^-9 relative
    // error per factor; over a sum of random terms the errors partly cancel.
    let a = random(&[64, 256], 800);
    let b = random(&[256, 96], 801);
    let exact = a.matmul_with(&b, &NaiveKernel).unwrap();
    let diff = a.matmul_with(&b, &Bf16Kernel).unwrap().max_abs_diff(&exact);
    // Entries are N(0, 256): a typical magnitude is 16.
    assert!(diff < 0.5, "max abs diff {diff} from the f32 product");
}

#[test]
fn selectable_by_name() {
    assert_eq!(gemm::kernel_by_name("bf16").unwrap().name(), "bf16");
    assert!(gemm::KERNEL_NAMES.contains(&"bf16"));
}

#[test]
fn precision_names_parse_and_print() {
    for precision in [MatmulPrecision::F32, MatmulPrecision::Bf16] {
        assert_eq!(precision.name().parse::<MatmulPrecision>().unwrap(), precision);
    }
    let err = "fp8".parse::<MatmulPrecision>().unwrap_err().to_string();
    assert!(err.contains("expected f32 or bf16"), "{err}");
    assert!(err.contains("\"fp8\""), "{err}");
}
