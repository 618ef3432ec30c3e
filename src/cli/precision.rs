//! `--precision`: the arithmetic of matrix products, for every subcommand.

use std::sync::atomic::{AtomicBool, Ordering};

use aigc_tensor::gemm::{self, MatmulPrecision};
use clap::ValueEnum;

/// The rounding of the operands of matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Precision {
    /// Full single precision (the default).
    F32,
    /// Mixed precision: product operands rounded to bfloat16, sums in f32;
    /// weights, activations and gradients stay f32. Needs AVX-512 BF16.
    Bf16,
}

/// Whether `--precision` or `AIGC_GEMM` chose the kernel, so that a resumed
/// run keeps its checkpoint's precision only when neither did.
static CHOSEN: AtomicBool = AtomicBool::new(false);

/// Sets the precision of matrix products for `--precision`. Without the
/// flag, the kernel named by `AIGC_GEMM` (or the default) stays in use.
/// Fails on an `AIGC_GEMM` that names no kernel, and on `bf16` where the
/// CPU lacks AVX-512 BF16.
pub fn configure_precision(precision: Option<Precision>) -> anyhow::Result<()> {
    gemm::kernel_from_env().map_err(|e| anyhow::anyhow!("{e}; unset AIGC_GEMM or set it to one of those"))?;
    CHOSEN.store(precision.is_some() || std::env::var_os("AIGC_GEMM").is_some(), Ordering::Relaxed);
    let precision = match precision {
        None => return Ok(()),
        Some(Precision::F32) => MatmulPrecision::F32,
        Some(Precision::Bf16) => MatmulPrecision::Bf16,
    };
    set_precision(precision, "leave the flag out or pass --precision f32")
}

/// Returns whether the command line or `AIGC_GEMM` chose the precision.
pub fn precision_chosen() -> bool {
    CHOSEN.load(Ordering::Relaxed)
}

/// Sets `precision`, with `advice` in the error for a CPU without AVX-512 BF16.
pub fn set_precision(precision: MatmulPrecision, advice: &str) -> anyhow::Result<()> {
    gemm::set_matmul_precision(precision).map_err(|_| {
        anyhow::anyhow!(
            "--precision {precision} needs a CPU with AVX-512 BF16 (the vdpbf16ps instruction), and this one lacks it; {advice}"
        )
    })
}

/// Returns the precision the products run at now, as `--precision` names it.
pub fn current_precision() -> &'static str {
    gemm::matmul_precision().name()
}
