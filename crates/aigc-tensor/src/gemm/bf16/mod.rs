//! A mixed-precision GEMM for x86-64 CPUs with AVX-512 BF16.
//!
//! Packing rounds A and B to bfloat16 (8 bits of mantissa instead of 24),
//! and the products are summed in f32. Weights, activations and gradients
//! stay f32 in memory, so only the inputs of each product lose precision.
//! PyTorch's CPU autocast rounds the same inputs, and also keeps some
//! outputs (linear layers, GELU) in bfloat16. On Zen 4 it
//! runs at up to twice the f32 kernel's speed.

#[cfg(target_arch = "x86_64")]
mod blocking;
mod convert;
#[cfg(target_arch = "x86_64")]
mod microkernel;
#[cfg(target_arch = "x86_64")]
mod pack;

use super::{Avx2Kernel, GemmKernel};

/// SGEMM with operands rounded to bfloat16 and f32 sums, on a 12×32
/// AVX-512 BF16 micro-kernel (`vdpbf16ps`).
///
/// The CPU features are detected at run time. Where they are missing, the
/// product is computed in full f32 by [`Avx2Kernel`] instead, so the kernel
/// is always safe to select. [`Bf16Kernel::is_supported`] reports which of
/// the two runs. Runs on the calling thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct Bf16Kernel;

impl Bf16Kernel {
    /// Returns whether this CPU runs the bfloat16 code path (AVX-512F and
    /// AVX-512 BF16). When it does not, the kernel computes in f32.
    pub fn is_supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// Returns `x` rounded to the nearest bfloat16 (ties to even), as the
/// kernel rounds its operands: a NaN stays NaN and a subnormal becomes a
/// signed zero. A product of rounded operands, summed in f32, is what the
/// kernel computes, so tests compare it with the naive kernel on such values.
pub fn round_to_bf16(x: f32) -> f32 {
    f32::from_bits(u32::from(convert::bf16_bits(x)) << 16)
}

impl GemmKernel for Bf16Kernel {
    fn name(&self) -> &'static str {
        "bf16"
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
        if Bf16Kernel::is_supported() {
            // SAFETY: the features were just detected, and the pointer
            // contract is the one our caller upholds.
            unsafe { blocking::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) };
            return;
        }
        // SAFETY: the same contract, passed on from our caller.
        unsafe { Avx2Kernel.sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}
