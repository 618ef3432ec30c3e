//! `--precision`: the arithmetic of matrix products, for every subcommand.

use std::sync::Arc;

use aigc_tensor::gemm::{self, Bf16Kernel, GemmKernel};
use anyhow::bail;
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

/// Selects the GEMM kernel for `--precision`; without the flag, the kernel
/// named by `AIGC_GEMM` (or the default) stays in use.
pub fn configure_precision(precision: Option<Precision>) -> anyhow::Result<()> {
    match precision {
        None => {}
        Some(Precision::F32) => {
            if gemm::kernel().name() == Bf16Kernel.name() {
                gemm::set_kernel(gemm::default_kernel());
            }
        }
        Some(Precision::Bf16) => {
            if !Bf16Kernel::is_supported() {
                bail!(
                    "--precision bf16 needs a CPU with AVX-512 BF16 (the vdpbf16ps instruction), and this one lacks it; \
                     leave the flag out or pass --precision f32"
                );
            }
            gemm::set_kernel(Arc::new(Bf16Kernel));
        }
    }
    Ok(())
}

/// Returns the precision the products run at now, as `--precision` names it.
pub fn current_precision() -> &'static str {
    if gemm::kernel().name() == Bf16Kernel.name() && Bf16Kernel::is_supported() {
        "bf16"
    } else {
        "f32"
    }
}
