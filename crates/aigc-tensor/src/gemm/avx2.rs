//! aigc's own packed SGEMM for x86-64 CPUs with AVX2 and FMA.

use super::{GemmKernel, MatrixMultiplyKernel};

/// BLIS-style SGEMM with a 6×16 AVX2 + FMA micro-kernel: A and B are packed
/// block by block (through their strides, so transposed operands cost
/// nothing extra) into per-thread buffers that are reused across calls.
///
/// AVX2 and FMA are detected at run time. On other CPUs and architectures
/// the product is computed by [`MatrixMultiplyKernel`] instead, so the
/// kernel is always safe to select. Products with `m = 1` or `n = 1` skip
/// packing when a stride allows. Runs on the calling thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct Avx2Kernel;

impl Avx2Kernel {
    /// Returns whether this CPU runs the AVX2 + FMA code path. When it does
    /// not, [`Avx2Kernel`] falls back to [`MatrixMultiplyKernel`].
    pub fn is_supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

impl GemmKernel for Avx2Kernel {
    fn name(&self) -> &'static str {
        "avx2"
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
        #[cfg(target_arch = "x86_64")]
        if Avx2Kernel::is_supported() {
            // SAFETY: AVX2 and FMA were just detected, and the pointer
            // contract is the one our caller upholds.
            unsafe { super::blocking::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) };
            return;
        }
        // SAFETY: the same contract, passed on from our caller.
        unsafe { MatrixMultiplyKernel.sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}
