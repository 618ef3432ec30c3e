//! The reference kernel: the textbook triple loop, accumulating in f64.

use super::GemmKernel;

/// The plain triple-loop GEMM, slow and obviously right; tests compare the
/// fast kernels with it. Sums are accumulated in f64.
#[derive(Debug, Default, Clone, Copy)]
pub struct NaiveKernel;

impl GemmKernel for NaiveKernel {
    fn name(&self) -> &'static str {
        "naive"
    }

    unsafe fn sgemm(
        &self,
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        for i in 0..m as isize {
            for j in 0..n as isize {
                let mut sum = 0.0f64;
                for p in 0..k as isize {
                    // SAFETY: the caller guarantees these addresses are valid (see the trait).
                    let (x, y) = unsafe { (*a.offset(i * rsa + p * csa), *b.offset(p * rsb + j * csb)) };
                    sum += x as f64 * y as f64;
                }
                // SAFETY: as above; C is only read when beta is non-zero.
                unsafe {
                    let out = c.offset(i * rsc + j * csc);
                    let previous = if beta == 0.0 { 0.0 } else { beta * *out };
                    *out = alpha * sum as f32 + previous;
                }
            }
        }
    }
}
