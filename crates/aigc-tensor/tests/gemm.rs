//! GEMM kernels: `MatrixMultiplyKernel` and `Avx2Kernel` against
//! `NaiveKernel` and against a plain f64 loop over logical elements, on odd,
//! empty, strided, transposed, broadcast and multi-threaded shapes. The
//! avx2 kernel's own contract cases are in `gemm_avx2.rs`.

mod common;

use std::sync::Arc;

use aigc_tensor::gemm::{self, Avx2Kernel, GemmKernel, MatrixMultiplyKernel, NaiveKernel, KERNEL_NAMES};
use aigc_tensor::{broadcast_shape, Tensor};
use common::random;

/// `a · b` computed from logical elements in f64, with NumPy batch
/// broadcasting. It shares no code with `matmul_with`, so a bug in the
/// batch or row-block plumbing shows up against it with either kernel.
fn reference_matmul(a: &Tensor, b: &Tensor) -> Tensor {
    let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let n = b.shape()[b.ndim() - 1];
    let batch = broadcast_shape("reference", &a.shape()[..a.ndim() - 2], &b.shape()[..b.ndim() - 2]).unwrap();
    let batch_count: usize = batch.iter().product();

    let a_shape: Vec<usize> = batch.iter().copied().chain([m, k]).collect();
    let b_shape: Vec<usize> = batch.iter().copied().chain([k, n]).collect();
    let a_values = a.broadcast_to(&a_shape).unwrap().to_vec();
    let b_values = b.broadcast_to(&b_shape).unwrap().to_vec();

    let mut out = vec![0.0f32; batch_count * m * n];
    for s in 0..batch_count {
        for i in 0..m {
            for j in 0..n {
                let mut sum = 0.0f64;
                for p in 0..k {
                    sum += a_values[s * m * k + i * k + p] as f64 * b_values[s * k * n + p * n + j] as f64;
                }
                out[s * m * n + i * n + j] = sum as f32;
            }
        }
    }
    let out_shape: Vec<usize> = batch.iter().copied().chain([m, n]).collect();
    Tensor::from_vec(out, &out_shape).unwrap()
}

/// Tolerance for an f32 dot product of length `k` over N(0, 1) inputs,
/// where the exact sum has magnitude about √k.
fn tolerance(k: usize) -> f32 {
    2e-6 * (k.max(1) as f32)
}

/// Every built-in kernel, the reference first.
const KERNELS: [&dyn GemmKernel; 3] = [&NaiveKernel, &MatrixMultiplyKernel, &Avx2Kernel];

/// Checks every kernel against the reference on `a · b`.
fn check_kernels(a: &Tensor, b: &Tensor) {
    let expected = reference_matmul(a, b);
    let k = a.shape()[a.ndim() - 1];
    for kernel in KERNELS {
        let actual = a.matmul_with(b, kernel).unwrap();
        assert_eq!(actual.shape(), expected.shape(), "kernel {}", kernel.name());
        let diff = actual.max_abs_diff(&expected);
        assert!(
            diff <= tolerance(k),
            "kernel {} on {:?} · {:?}: max abs diff {diff}",
            kernel.name(),
            a.shape(),
            b.shape()
        );
    }
}

#[test]
fn random_square_and_rectangular() {
    check_kernels(&random(&[16, 16], 1), &random(&[16, 16], 2));
    check_kernels(&random(&[8, 33], 3), &random(&[33, 5], 4));
    check_kernels(&random(&[64, 64], 5), &random(&[64, 64], 6));
}

#[test]
fn odd_sizes() {
    let sizes = [1, 3, 7, 127, 129];
    let mut seed = 10;
    for &m in &sizes {
        for &k in &sizes {
            for &n in &sizes {
                // Skip the slowest combinations; every size still appears on every axis.
                if m * k * n > 129 * 129 * 7 {
                    continue;
                }
                check_kernels(&random(&[m, k], seed), &random(&[k, n], seed + 1));
                seed += 2;
            }
        }
    }
    check_kernels(&random(&[127, 129], 1000), &random(&[129, 127], 1001));
}

#[test]
fn zero_sizes() {
    for (m, k, n) in [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)] {
        let a = Tensor::zeros(&[m, k]);
        let b = Tensor::zeros(&[k, n]);
        for kernel in KERNELS {
            let c = a.matmul_with(&b, kernel).unwrap();
            assert_eq!(c.shape(), &[m, n], "kernel {}", kernel.name());
            assert!(c.to_vec().iter().all(|&v| v == 0.0));
        }
    }

    for kernel in KERNELS {
        let empty_batch = Tensor::zeros(&[0, 2, 3]).matmul_with(&Tensor::zeros(&[3, 4]), kernel).unwrap();
        assert_eq!(empty_batch.shape(), &[0, 2, 4], "kernel {}", kernel.name());
    }
}

#[test]
fn transposed_operands() {
    let a = random(&[9, 13], 20); // aᵀ is 13 × 9
    let b = random(&[11, 9], 21); // bᵀ is 9 × 11

    check_kernels(&a.t().unwrap(), &b.t().unwrap());
    check_kernels(&a.t().unwrap(), &random(&[9, 4], 22));
    check_kernels(&random(&[5, 11], 23), &b);
    // The LM-head pattern: x · Wᵀ.
    check_kernels(&random(&[17, 32], 24), &random(&[50, 32], 25).t().unwrap());
}

#[test]
fn sliced_and_strided_operands() {
    // Narrowing the inner axis leaves a row stride larger than the row.
    let a = random(&[10, 20], 30).narrow(1, 3, 12).unwrap();
    let b = random(&[15, 30], 31).narrow(0, 2, 12).unwrap().narrow(1, 5, 7).unwrap();
    check_kernels(&a, &b);

    // Narrowed then transposed: both strides differ from the dense ones.
    let at = random(&[25, 40], 32).narrow(0, 1, 12).unwrap().narrow(1, 2, 9).unwrap().t().unwrap();
    check_kernels(&at, &random(&[12, 6], 33));

    // Narrowed batch of matrices.
    let batched = random(&[3, 8, 10], 34).narrow(2, 1, 6).unwrap().narrow(0, 1, 2).unwrap();
    check_kernels(&batched, &random(&[6, 5], 35));
}

#[test]
fn negative_strides_are_read_correctly() {
    let mut flipped = ndarray::Array2::from_shape_fn((6, 5), |(i, j)| (i * 5 + j) as f32 * 0.1);
    flipped.invert_axis(ndarray::Axis(0));
    let a = Tensor::from_array(flipped.into_dyn());
    assert!(a.strides()[0] < 0);

    check_kernels(&a, &random(&[5, 4], 36));
}

#[test]
fn broadcast_batches() {
    check_kernels(&random(&[2, 1, 5, 7], 40), &random(&[3, 7, 4], 41));
    check_kernels(&random(&[4, 3, 6], 42), &random(&[6, 2], 43));
    check_kernels(&random(&[3, 6], 44), &random(&[2, 6, 5], 45));
    check_kernels(&random(&[1, 2, 3, 4], 46), &random(&[5, 1, 4, 3], 47));
}

#[test]
fn permuted_batched_operands() {
    // (B, T, H, D) → (B, H, T, D), as attention heads are laid out.
    let q = random(&[2, 5, 3, 4], 50).permute(&[0, 2, 1, 3]).unwrap();
    let k = random(&[2, 5, 3, 4], 51).permute(&[0, 2, 3, 1]).unwrap();

    check_kernels(&q, &k);
}

#[test]
fn row_blocks_split_across_two_threads() {
    let a = random(&[300, 200], 60);
    let b = random(&[200, 100], 61);
    let expected = reference_matmul(&a, &b);

    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        for kernel in KERNELS {
            let diff = a.matmul_with(&b, kernel).unwrap().max_abs_diff(&expected);
            assert!(diff <= tolerance(200), "kernel {}: max abs diff {diff}", kernel.name());
        }
    });
}

#[test]
fn row_blocks_with_uneven_split_in_batch() {
    // With 20 threads and 2 matrices of 81 rows, 10 blocks are wanted per
    // matrix but 9 rows per block leave only 9, so tasks must still be
    // mapped to the right matrix and row.
    let a = random(&[2, 81, 360], 62);
    let b = random(&[360, 360], 63);
    let expected = reference_matmul(&a, &b);

    for threads in [3, 20] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for kernel in [&MatrixMultiplyKernel as &dyn GemmKernel, &Avx2Kernel] {
            let actual = pool.install(|| a.matmul_with(&b, kernel)).unwrap();
            let diff = actual.max_abs_diff(&expected);
            assert!(diff <= tolerance(360), "kernel {} on {threads} threads: max abs diff {diff}", kernel.name());
        }
    }
}

#[test]
fn kernel_contract_alpha_beta_and_strided_output() {
    // C ← α·A·B + β·C on 2×2 operands, with C written column-major.
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let b = [5.0f32, 6.0, 7.0, 8.0];
    // A·B = [[19, 22], [43, 50]]
    for kernel in KERNELS {
        let mut c = [1.0f32, 1.0, 1.0, 1.0];
        // SAFETY: all addresses stay inside the 4-element arrays.
        unsafe { kernel.sgemm(2, 2, 2, 2.0, a.as_ptr(), 2, 1, b.as_ptr(), 2, 1, 0.5, c.as_mut_ptr(), 1, 2) };
        assert_eq!(c, [38.5, 86.5, 44.5, 100.5], "kernel {}", kernel.name());

        let mut garbage = [f32::NAN; 4];
        // SAFETY: as above; with beta = 0 the NaN in C must not be read.
        unsafe { kernel.sgemm(2, 2, 2, 1.0, a.as_ptr(), 2, 1, b.as_ptr(), 2, 1, 0.0, garbage.as_mut_ptr(), 2, 1) };
        assert_eq!(garbage, [19.0, 22.0, 43.0, 50.0], "kernel {}", kernel.name());
    }
}

#[test]
fn kernel_by_name_finds_each_kernel() {
    for &name in KERNEL_NAMES {
        assert_eq!(gemm::kernel_by_name(name).unwrap().name(), name);
    }
}

#[test]
fn kernel_by_name_error_lists_valid_names() {
    let err = gemm::kernel_by_name("blas").err().expect("blas is not a built-in kernel");
    let message = err.to_string();

    assert!(message.starts_with("gemm:"), "{message}");
    assert!(message.contains("\"blas\""), "{message}");
    assert!(message.contains("avx2, bf16, matrixmultiply, naive"), "{message}");
}

#[test]
fn set_kernel_changes_default() {
    // The other tests in this file pass their kernel explicitly, so
    // changing the process-wide kernel here does not affect them.
    gemm::set_kernel(Arc::new(NaiveKernel));
    assert_eq!(gemm::kernel().name(), "naive");

    gemm::set_kernel(Arc::new(MatrixMultiplyKernel));
    assert_eq!(gemm::kernel().name(), "matrixmultiply");
}
