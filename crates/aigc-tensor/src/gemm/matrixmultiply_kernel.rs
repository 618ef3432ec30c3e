//! The `matrixmultiply` crate's packed, cache-blocked SGEMM.

use super::GemmKernel;

/// GEMM through `matrixmultiply::sgemm` (BLIS-style blocking with SIMD
/// micro-kernels chosen at run time). Runs on the calling thread: the crate's
/// own threading feature is off, because aigc parallelises with rayon.
#[derive(Debug, Default, Clone, Copy)]
pub struct MatrixMultiplyKernel;

impl GemmKernel for MatrixMultiplyKernel {
    fn name(&self) -> &'static str {
        "matrixmultiply"
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
        // SAFETY: the same contract as matrixmultiply::sgemm, passed on from our caller.
        unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}
