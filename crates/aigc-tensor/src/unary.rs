//! Element-wise functions of one tensor.

use crate::Tensor;

/// √(2/π), the constant of the tanh approximation of GELU.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// GELU with the tanh approximation used by GPT-2:
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
pub fn gelu_scalar(x: f32) -> f32 {
    let inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
    0.5 * x * (1.0 + inner.tanh())
}

/// The derivative of [`gelu_scalar`] with respect to `x`.
pub fn gelu_grad_scalar(x: f32) -> f32 {
    let inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
    let tanh = inner.tanh();
    let d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
    0.5 * (1.0 + tanh) + 0.5 * x * (1.0 - tanh * tanh) * d_inner
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

    /// GELU, tanh approximation (see [`gelu_scalar`]).
    pub fn gelu(&self) -> Tensor {
        self.map(gelu_scalar)
    }

    /// `|x|`.
    pub fn abs(&self) -> Tensor {
        self.map(f32::abs)
    }
}
