//! Element-wise functions of one tensor.

use crate::Tensor;

/// GELU with the tanh approximation used by GPT-2:
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
///
/// Computed as [`crate::simd::gelu`] (the same formula through `x·σ(2u)`),
/// so a single value equals an element of [`Tensor::gelu`] bit for bit.
pub fn gelu_scalar(x: f32) -> f32 {
    crate::simd::gelu(x)
}

/// Returns the derivative of [`gelu_scalar`] with respect to `x`
/// (see [`crate::simd::gelu_grad`]).
pub fn gelu_grad_scalar(x: f32) -> f32 {
    crate::simd::gelu_grad(x)
}

impl Tensor {
    /// `-x`.
    pub fn neg(&self) -> Tensor {
        self.map(|x| -x)
    }

    /// `eˣ`.
    pub fn exp(&self) -> Tensor {
        self.map(f32::exp)
    }

    /// The natural logarithm; `-inf` at 0 and NaN below 0, as IEEE 754 defines.
    pub fn log(&self) -> Tensor {
        self.map(f32::ln)
    }

    /// `√x`; NaN below 0.
    pub fn sqrt(&self) -> Tensor {
        self.map(f32::sqrt)
    }

    /// `xᵖ` for a constant exponent `p`.
    pub fn powf(&self, p: f32) -> Tensor {
        self.map(|x| x.powf(p))
    }

    /// The hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        self.map(f32::tanh)
    }

    /// The logistic sigmoid `1 / (1 + e⁻ˣ)`.
    pub fn sigmoid(&self) -> Tensor {
        self.map(|x| 1.0 / (1.0 + (-x).exp()))
    }

    /// `max(x, 0)`; NaN stays NaN.
    pub fn relu(&self) -> Tensor {
        self.map(|x| crate::elementwise::max_propagating_nan(x, 0.0))
    }

    /// GELU, tanh approximation (see [`gelu_scalar`]), vectorised.
    pub fn gelu(&self) -> Tensor {
        let x = self.contiguous();
        let xs = x.as_slice().expect("contiguous");
        // SAFETY: gelu_into writes every element of each output chunk and reads none.
        let out = unsafe { crate::buffer::written_by(xs.len(), |out| crate::parallel::map_chunks_into(out, xs, crate::simd::gelu_into)) };
        Tensor::from_vec(out, self.shape()).expect("same shape")
    }

    /// `|x|`.
    pub fn abs(&self) -> Tensor {
        self.map(f32::abs)
    }
}
