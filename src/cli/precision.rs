//! `--precision`: the arithmetic of matrix products, for every subcommand.

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

/// Sets the precision of matrix products for `--precision`. Without the
/// flag, the kernel named by `AIGC_GEMM` (or the default) stays in use.
pub fn configure_precision(precision: Option<Precision>) -> anyhow::Result<()> {
    let precision = match precision {
        None => return Ok(()),
        Some(Precision::F32) => MatmulPrecision::F32,
        Some(Precision::Bf16) => MatmulPrecision::Bf16,
    };
    gemm::set_matmul_precision(precision).map_err(|_| {
        anyhow::anyhow!(
            "--precision bf16 needs a CPU with AVX-512 BF16 (the vdpbf16ps instruction), and this one lacks it; \
             leave the flag out or pass --precision f32"
        )
    })
}

/// Returns the precision the products run at now, as `--precision` names it.
pub fn current_precision() -> &'static str {
    gemm::matmul_precision().name()
}
