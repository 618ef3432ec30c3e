//! General matrix multiply (GEMM), the swap point for speed.
//!
//! Every matrix product in aigc ends in one call:
//!
//! ```text
//! C ← α·A·B + β·C        A: m×k, B: k×n, C: m×n
//! ```
//!
//! with each operand given as a pointer plus a row stride and a column stride
//! in elements, so transposed and sliced operands need no copy. A kernel is a
//! [`GemmKernel`]; the one in use is chosen at run time with [`set_kernel`]
//! or the `AIGC_GEMM` environment variable (`avx2`, `bf16`,
//! `matrixmultiply` or `naive`), so a new kernel can be added and
//! benchmarked without touching any caller. [`set_matmul_precision`] names
//! the common choice: f32, or bf16 mixed precision ([`Bf16Kernel`]). The
//! default is [`Avx2Kernel`] on CPUs with AVX2 and FMA and
//! [`MatrixMultiplyKernel`] elsewhere (see [`default_kernel`]).
//! [`NaiveKernel`] is the reference that tests compare faster kernels against.

mod avx2;
mod bf16;
#[cfg(target_arch = "x86_64")]
mod blocking;
#[cfg(target_arch = "x86_64")]
mod gemv;
mod matrixmultiply_kernel;
#[cfg(target_arch = "x86_64")]
mod microkernel;
mod naive;
mod precision;
#[cfg(target_arch = "x86_64")]
mod pack;
#[cfg(target_arch = "x86_64")]
mod transpose;

use std::sync::{Arc, RwLock};

#[cfg(target_arch = "x86_64")]
pub(crate) use blocking::depth_block;

/// Returns the steps of k per block of sums; without the AVX2 kernel there
/// is no rounding to match, so the whole of k is one block.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn depth_block(k: usize) -> usize {
    k.max(1)
}

pub use avx2::Avx2Kernel;
pub use bf16::{round_to_bf16, Bf16Kernel};
pub use matrixmultiply_kernel::MatrixMultiplyKernel;
pub use naive::NaiveKernel;
pub use precision::{matmul_precision, set_matmul_precision, MatmulPrecision};

use crate::error::{Error, Result};

/// A single-precision GEMM implementation.
pub trait GemmKernel: Send + Sync {
    /// A short name, used by `AIGC_GEMM`, benchmarks and error messages.
    fn name(&self) -> &'static str;

    /// Computes `C ← α·A·B + β·C`.
    ///
    /// When `beta == 0`, C is never read, so it may hold garbage (even NaN).
    /// A kernel runs on the calling thread; callers parallelise around it.
    ///
    /// # Safety
    /// For every `i < m`, `j < n`, `p < k`, the addresses `a + i·rsa + p·csa`,
    /// `b + p·rsb + j·csb` must be valid for reads and `c + i·rsc + j·csc`
    /// valid for writes, and C must not overlap A or B. C's strides must not
    /// map two (i, j) pairs to one address.
    #[allow(clippy::too_many_arguments)]
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
    );
}

/// The names [`kernel_by_name`] accepts.
pub const KERNEL_NAMES: &[&str] = &["avx2", "bf16", "matrixmultiply", "naive"];

static CURRENT: RwLock<Option<Arc<dyn GemmKernel>>> = RwLock::new(None);

/// Looks a built-in kernel up by name; the error lists the valid names.
pub fn kernel_by_name(name: &str) -> Result<Arc<dyn GemmKernel>> {
    match name {
        "avx2" => Ok(Arc::new(Avx2Kernel)),
        "bf16" => Ok(Arc::new(Bf16Kernel)),
        "matrixmultiply" => Ok(Arc::new(MatrixMultiplyKernel)),
        "naive" => Ok(Arc::new(NaiveKernel)),
        other => Err(Error::invalid(
            "gemm",
            format!("unknown GEMM kernel {other:?}; valid names: {}", KERNEL_NAMES.join(", ")),
        )),
    }
}

/// The kernel in use: the one set by [`set_kernel`], else the one named by
/// `AIGC_GEMM`, else [`default_kernel`]. An invalid `AIGC_GEMM` falls back
/// to the default, and [`kernel_from_env`] reports it.
pub fn kernel() -> Arc<dyn GemmKernel> {
    if let Some(k) = CURRENT.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return k.clone();
    }
    let chosen = kernel_from_env().unwrap_or_else(|_| default_kernel());
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = Some(chosen.clone());
    chosen
}

/// Returns the default kernel for this CPU: [`Avx2Kernel`] when the
/// CPU has AVX2 and FMA, else [`MatrixMultiplyKernel`].
pub fn default_kernel() -> Arc<dyn GemmKernel> {
    if Avx2Kernel::is_supported() {
        Arc::new(Avx2Kernel)
    } else {
        Arc::new(MatrixMultiplyKernel)
    }
}

/// The kernel named by the `AIGC_GEMM` environment variable (default
/// [`default_kernel`]), or an error naming the invalid value.
pub fn kernel_from_env() -> Result<Arc<dyn GemmKernel>> {
    match std::env::var("AIGC_GEMM") {
        Ok(name) => kernel_by_name(name.trim()).map_err(|_| {
            Error::invalid(
                "gemm",
                format!("AIGC_GEMM={name:?} is not a GEMM kernel; valid names: {}", KERNEL_NAMES.join(", ")),
            )
        }),
        Err(_) => Ok(default_kernel()),
    }
}

/// Makes `kernel` the one every later matrix product uses, process-wide.
pub fn set_kernel(kernel: Arc<dyn GemmKernel>) {
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = Some(kernel);
}
