//! `Avx2Kernel` called directly through `sgemm` on strided buffers, and
//! through `matmul_with` on the shapes that cross its block boundaries
//! (MR = 6, NR = 16, MC = 96, KC = 512, NC = 1024) or take its unpacked
//! vector path (m = 1 or n = 1), against an f64 loop and `NaiveKernel`.
//!
//! On CPUs without AVX2 and FMA the kernel falls back to `matrixmultiply`,
//! and these tests check that path instead.

mod common;

use aigc_tensor::gemm::{self, Avx2Kernel, GemmKernel, NaiveKernel};
use common::random;
use common::strided::{
    assert_empty_products_touch_nothing, assert_zero_depth_scales_c, sgemm, sgemm_block, Layout, Strided, LAYOUTS,
};

/// Checks `kernel` against an f64 loop for `C ← α·A·B + β·C`, and that
/// C's padding is left untouched.
fn check(kernel: &dyn GemmKernel, alpha: f32, a: &Strided, b: &Strided, beta: f32, c: &Strided) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let mut actual = c.clone();
    sgemm(kernel, alpha, a, b, beta, &mut actual);

    for i in 0..m {
        for j in 0..n {
            let product: f64 = (0..k).map(|p| a.get(i, p) as f64 * b.get(p, j) as f64).sum();
            let old = if beta == 0.0 { 0.0 } else { beta as f64 * c.get(i, j) as f64 };
            let expected = alpha as f64 * product + old;
            let tolerance = 2e-6 * k.max(1) as f64 * (alpha.abs() as f64).max(1.0) + 1e-6 * old.abs();
            let got = actual.get(i, j) as f64;
            assert!(
                (got - expected).abs() <= tolerance,
                "{} at ({i}, {j}) of {m}×{k}×{n}, α = {alpha}, β = {beta}: got {got}, expected {expected}",
                kernel.name()
            );
        }
    }
    let is_element = c.element_mask();
    for (index, (&after, &before)) in actual.data.iter().zip(&c.data).enumerate() {
        if !is_element[index] {
            assert!(
                after.to_bits() == before.to_bits(),
                "{} wrote C's padding at buffer index {index} ({before} became {after})",
                kernel.name()
            );
        }
    }
}

#[test]
fn every_layout_of_a_b_and_c() {
    // 13 × 21 × 35: edge tiles in both directions (13 = 2·6 + 1, 35 = 2·16 + 3).
    let mut seed = 100;
    for a_layout in LAYOUTS {
        for b_layout in LAYOUTS {
            for c_layout in LAYOUTS {
                let a = Strided::random(13, 21, a_layout, seed);
                let b = Strided::random(21, 35, b_layout, seed + 1);
                let c = Strided::random(13, 35, c_layout, seed + 2);
                check(&Avx2Kernel, 1.0, &a, &b, 0.0, &c);
                check(&Avx2Kernel, 0.5, &a, &b, -1.5, &c);
                seed += 3;
            }
        }
    }
}

#[test]
fn vector_products_every_layout() {
    // m = 1 and n = 1 run unpacked vector loops when a stride is 1 (and the
    // packed loops otherwise); n = 75 and 150 leave tails after blocks of 64
    // and 8 columns, k = 37 after blocks of 16.
    let mut seed = 150;
    for (k, length) in [(1, 1), (7, 3), (16, 8), (37, 75), (37, 150), (600, 9)] {
        for (m, n) in [(1, length), (length, 1)] {
            for a_layout in LAYOUTS {
                for b_layout in LAYOUTS {
                    for c_layout in [Layout::RowMajor, Layout::EveryOther] {
                        let a = Strided::random(m, k, a_layout, seed);
                        let b = Strided::random(k, n, b_layout, seed + 1);
                        let c = Strided::random(m, n, c_layout, seed + 2);
                        check(&Avx2Kernel, 1.0, &a, &b, 0.0, &c);
                        check(&Avx2Kernel, -0.5, &a, &b, 2.0, &c);
                        seed += 3;
                    }
                }
            }
        }
    }
}

#[test]
fn split_products_give_identical_bits() {
    // matmul_with splits a product into row or column blocks per thread, so
    // each element must come out bit for bit the same in any block: at the
    // edge of a tile, in a block of one row or column (the vector loops), and
    // with A packed or read in place (n ≤ 256 or not).
    let cases = [
        (13, 700, 35, Layout::RowMajor),
        (13, 700, 35, Layout::ColumnMajor),
        (14, 40, 300, Layout::RowMajor),
        (7, 9, 17, Layout::ColumnMajor),
        (9, 1100, 20, Layout::PaddedRows),
    ];
    let mut seed = 1100;
    for (m, k, n, b_layout) in cases {
        for beta in [0.0, 1.0, -0.75] {
            let a = Strided::random(m, k, Layout::RowMajor, seed);
            let b = Strided::random(k, n, b_layout, seed + 1);
            let c = Strided::random(m, n, Layout::RowMajor, seed + 2);
            seed += 3;
            let mut whole = c.clone();
            sgemm_block(&Avx2Kernel, 1.5, &a, &b, beta, &mut whole, 0..m, 0..n);

            let row_splits = [1, 6, m - 1].map(|r| [0..r, r..m]);
            let column_splits = [1, 16, n - 1].map(|j| [0..j, j..n]);
            for (rows, cols) in row_splits.iter().map(|rows| (rows.clone(), [0..n, 0..n])).chain(
                column_splits.iter().map(|cols| ([0..m, 0..m], cols.clone())),
            ) {
                let mut split = c.clone();
                for part in 0..2 {
                    sgemm_block(&Avx2Kernel, 1.5, &a, &b, beta, &mut split, rows[part].clone(), cols[part].clone());
                }
                for i in 0..m {
                    for j in 0..n {
                        assert_eq!(
                            split.get(i, j).to_bits(),
                            whole.get(i, j).to_bits(),
                            "{m}×{k}×{n}, B {b_layout:?}, β = {beta}, blocks {rows:?} × {cols:?}: ({i}, {j}) differs"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn matmul_bits_independent_of_thread_count() {
    let cases = [
        // 13 rows split in two leave a block of one row, and k spans 25 k blocks.
        (random(&[13, 12_500], 1200), random(&[13, 12_500], 1201).t().unwrap()),
        (random(&[13, 12_500], 1202), random(&[12_500, 13], 1203)),
        // 33 columns split in two leave a block of one column.
        (random(&[5, 13_000], 1204), random(&[13_000, 33], 1205)),
        (random(&[300, 200], 1206), random(&[200, 50], 1207)),
        (random(&[3, 100, 150], 1208), random(&[150, 90], 1209)),
    ];
    for (a, b) in &cases {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let expected = pool.install(|| a.matmul_with(b, &Avx2Kernel)).unwrap().to_vec();
        for threads in [2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let actual = pool.install(|| a.matmul_with(b, &Avx2Kernel)).unwrap().to_vec();
            let differing = actual.iter().zip(&expected).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
            assert_eq!(differing, 0, "{threads} threads, {:?} · {:?}: elements differ from one thread", a.shape(), b.shape());
        }
    }
}

#[test]
fn alpha_beta_across_block_boundaries() {
    // (m, k, n): full tiles only; k > KC, so β applies once and later k
    // blocks accumulate; m > MC and n > NC with partial last blocks.
    let shapes = [(12, 32, 48), (37, 600, 40), (100, 5, 1030), (97, 513, 17)];
    let mut seed = 200;
    for (m, k, n) in shapes {
        for alpha in [1.0, 0.5, -2.0] {
            for beta in [0.0, 1.0, -0.75] {
                let a = Strided::random(m, k, Layout::RowMajor, seed);
                let b = Strided::random(k, n, Layout::RowMajor, seed + 1);
                let c = Strided::random(m, n, Layout::PaddedRows, seed + 2);
                check(&Avx2Kernel, alpha, &a, &b, beta, &c);
                seed += 3;
            }
        }
    }
}

#[test]
fn beta_zero_never_reads_nan_in_c() {
    for (m, k, n) in [(6, 8, 16), (7, 9, 17), (1, 600, 3), (1, 40, 75), (70, 20, 1), (100, 3, 33)] {
        for layout in [Layout::RowMajor, Layout::ColumnMajor, Layout::PaddedRows] {
            let a = Strided::random(m, k, Layout::RowMajor, 300);
            let b = Strided::random(k, n, Layout::RowMajor, 301);
            let mut c = Strided::random(m, n, layout, 302);
            c.data.fill(f32::NAN);

            // `check` also asserts that the NaN padding stays as it was.
            check(&Avx2Kernel, 1.0, &a, &b, 0.0, &c);
            check(&Avx2Kernel, -3.0, &a, &b, 0.0, &c);
        }
    }
}

#[test]
fn k_zero_scales_c_by_beta() {
    assert_zero_depth_scales_c(&Avx2Kernel);
}

#[test]
fn empty_m_or_n_touches_nothing() {
    assert_empty_products_touch_nothing(&Avx2Kernel);
}

#[test]
fn matches_naive_kernel_on_odd_sizes() {
    let sizes = [1, 3, 7, 127, 129, 255, 257];
    let mut seed = 600;
    for &m in &sizes {
        for &k in &sizes {
            for &n in &sizes {
                // Skip the slowest combinations; every size still appears on every axis.
                if m * k * n > 257 * 257 * 7 {
                    continue;
                }
                let a = random(&[m, k], seed);
                let b = random(&[k, n], seed + 1);
                seed += 2;
                let expected = a.matmul_with(&b, &NaiveKernel).unwrap();
                let diff = a.matmul_with(&b, &Avx2Kernel).unwrap().max_abs_diff(&expected);
                assert!(diff <= 2e-6 * k as f32, "{m}×{k}×{n}: max abs diff {diff}");
            }
        }
    }
}

#[test]
fn large_odd_product_matches_naive_kernel() {
    let a = random(&[257, 255], 700);
    let b = random(&[255, 129], 701);
    let expected = a.matmul_with(&b, &NaiveKernel).unwrap();

    let diff = a.matmul_with(&b, &Avx2Kernel).unwrap().max_abs_diff(&expected);

    assert!(diff <= 2e-6 * 255.0, "max abs diff {diff}");
}

#[test]
fn transposed_and_batched_through_matmul() {
    let cases = [
        // x · Wᵀ, the LM-head layout, with n > NC.
        (random(&[37, 64], 800), random(&[1100, 64], 801).t().unwrap()),
        // Aᵀ · B with k > KC.
        (random(&[530, 20], 802).t().unwrap(), random(&[530, 33], 803)),
        // Broadcast batch, both operands transposed.
        (random(&[2, 1, 19, 9], 804).transpose(-1, -2).unwrap(), random(&[3, 40, 19], 805).transpose(-1, -2).unwrap()),
        // Attention scores q · kᵀ over (B, H, T, D) heads.
        (
            random(&[2, 33, 3, 8], 806).permute(&[0, 2, 1, 3]).unwrap(),
            random(&[2, 33, 3, 8], 807).permute(&[0, 2, 3, 1]).unwrap(),
        ),
        // Narrowed rows and columns.
        (random(&[50, 70], 808).narrow(0, 3, 40).unwrap().narrow(1, 5, 60).unwrap(), random(&[60, 25], 809)),
    ];
    for (a, b) in &cases {
        let expected = a.matmul_with(b, &NaiveKernel).unwrap();
        let k = a.shape()[a.ndim() - 1];

        let actual = a.matmul_with(b, &Avx2Kernel).unwrap();

        assert_eq!(actual.shape(), expected.shape());
        let diff = actual.max_abs_diff(&expected);
        assert!(diff <= 2e-6 * k as f32, "{:?} · {:?}: max abs diff {diff}", a.shape(), b.shape());
    }
}

#[test]
fn parallel_split_by_rows_columns_and_batch() {
    let cases = [
        // Tall: split into row blocks.
        (random(&[301, 200], 900), random(&[200, 50], 901)),
        // Wide: split into column blocks, the last one partial.
        (random(&[40, 200], 902), random(&[200, 333], 903)),
        // Three matrices on two threads: each matrix is split too.
        (random(&[3, 100, 150], 904), random(&[150, 90], 905)),
        // Wide with a transposed right operand, as in the LM head.
        (random(&[20, 128], 906), random(&[1000, 128], 907).t().unwrap()),
    ];
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for (a, b) in &cases {
            let expected = a.matmul_with(b, &NaiveKernel).unwrap();
            let k = a.shape()[a.ndim() - 1];

            let actual = pool.install(|| a.matmul_with(b, &Avx2Kernel)).unwrap();

            let diff = actual.max_abs_diff(&expected);
            assert!(diff <= 2e-6 * k as f32, "{threads} threads, {:?} · {:?}: max abs diff {diff}", a.shape(), b.shape());
        }
    }
}

#[test]
fn reused_buffers_give_fresh_results() {
    // A large product leaves packed data behind in this thread's buffers;
    // smaller products afterwards must not read any of it.
    let big = (random(&[200, 700], 1000), random(&[700, 1100], 1001));
    let small = (random(&[7, 9], 1002), random(&[9, 5], 1003));
    for (a, b) in [&big, &small, &big, &small] {
        let expected = a.matmul_with(b, &NaiveKernel).unwrap();
        let diff = a.matmul_with(b, &Avx2Kernel).unwrap().max_abs_diff(&expected);
        assert!(diff <= 2e-6 * a.shape()[1] as f32, "{:?} · {:?}: max abs diff {diff}", a.shape(), b.shape());
    }
}

#[test]
fn default_kernel_is_avx2_when_supported() {
    let expected = if Avx2Kernel::is_supported() { "avx2" } else { "matrixmultiply" };

    assert_eq!(gemm::default_kernel().name(), expected);
    assert_eq!(gemm::kernel_by_name("avx2").unwrap().name(), "avx2");
}
