//! The precision of matrix products as one process-wide setting, the way
//! PyTorch's `set_float32_matmul_precision` and Keras's mixed-precision
//! policy are set: a name for the choice of GEMM kernel.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::{default_kernel, kernel, set_kernel, Bf16Kernel, GemmKernel};
use crate::error::{Error, Result};

/// The arithmetic of matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulPrecision {
    /// Full single precision (the default).
    #[default]
    F32,
    /// Mixed precision: operands rounded to bfloat16, sums in f32 (see
    /// [`Bf16Kernel`]). Weights, activations and gradients stay f32.
    Bf16,
}

impl MatmulPrecision {
    /// Returns the name used by `--precision` and [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            MatmulPrecision::F32 => "f32",
            MatmulPrecision::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for MatmulPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MatmulPrecision {
    type Err = Error;

    fn from_str(text: &str) -> Result<MatmulPrecision> {
        match text {
            "f32" => Ok(MatmulPrecision::F32),
            "bf16" => Ok(MatmulPrecision::Bf16),
            other => Err(Error::invalid("matmul precision", format!("expected f32 or bf16, got {other:?}"))),
        }
    }
}

/// Makes every later matrix product run at `precision`, process-wide.
///
/// `Bf16` selects [`Bf16Kernel`], and fails on a CPU without AVX-512 BF16
/// rather than run in f32 under the bf16 name. `F32` replaces the bf16
/// kernel by the default one and keeps any other kernel in use.
pub fn set_matmul_precision(precision: MatmulPrecision) -> Result<()> {
    match precision {
        MatmulPrecision::F32 => {
            if kernel().name() == Bf16Kernel.name() {
                set_kernel(default_kernel());
            }
        }
        MatmulPrecision::Bf16 => {
            if !Bf16Kernel::is_supported() {
                return Err(Error::invalid(
                    "matmul precision",
                    "bf16 needs a CPU with AVX-512 BF16 (the vdpbf16ps instruction), and this one lacks it; use f32",
                ));
            }
            set_kernel(Arc::new(Bf16Kernel));
        }
    }
    Ok(())
}

/// Returns the precision the matrix products run at now.
pub fn matmul_precision() -> MatmulPrecision {
    if kernel().name() == Bf16Kernel.name() && Bf16Kernel::is_supported() {
        MatmulPrecision::Bf16
    } else {
        MatmulPrecision::F32
    }
}
