//! Element-wise functions of one variable.

use aigc_tensor::{buffer, parallel, simd, Tensor};

use crate::Var;

impl Var {
    /// Builds an element-wise op whose derivative is `g · derivative(x, y)`,
    /// where `x` is the input and `y` the output.
    fn unary(
        &self,
        op: &'static str,
        forward: impl Fn(&Tensor) -> Tensor,
        derivative: impl Fn(f32, f32) -> f32 + Send + Sync + Copy + 'static,
    ) -> Var {
        let x = self.value();
        let y = forward(&x);
        let output = y.clone();
        Var::from_op(op, y, &[self], move |g| {
            let local = x.zip_map(&output, op, derivative)?;
            Ok(vec![Some(g.mul(&local)?)])
        })
    }

    /// `-x`.
    pub fn neg(&self) -> Var {
        // ∂(-x)/∂x = -1
        Var::from_op("neg", self.value().neg(), &[self], |g| Ok(vec![Some(g.neg())]))
    }

    /// `eˣ`.
    pub fn exp(&self) -> Var {
        // ∂eˣ/∂x = eˣ = y
        self.unary("exp", Tensor::exp, |_, y| y)
    }

    /// The natural logarithm.
    pub fn log(&self) -> Var {
        // ∂ln x/∂x = 1/x
        self.unary("log", Tensor::log, |x, _| 1.0 / x)
    }

    /// `√x`.
    pub fn sqrt(&self) -> Var {
        // ∂√x/∂x = 1/(2√x) = 1/(2y)
        self.unary("sqrt", Tensor::sqrt, |_, y| 0.5 / y)
    }

    /// `xᵖ` for a constant `p`.
    pub fn powf(&self, p: f32) -> Var {
        // ∂xᵖ/∂x = p·xᵖ⁻¹
        self.unary("powf", |x| x.powf(p), move |x, _| p * x.powf(p - 1.0))
    }

    /// The hyperbolic tangent.
    pub fn tanh(&self) -> Var {
        // ∂tanh x/∂x = 1 - tanh²x = 1 - y²
        self.unary("tanh", Tensor::tanh, |_, y| 1.0 - y * y)
    }

    /// The logistic sigmoid.
    pub fn sigmoid(&self) -> Var {
        // ∂σ(x)/∂x = σ(x)(1 - σ(x)) = y(1 - y)
        self.unary("sigmoid", Tensor::sigmoid, |_, y| y * (1.0 - y))
    }

    /// `max(x, 0)`; the derivative at 0 is taken as 0.
    pub fn relu(&self) -> Var {
        // ∂relu(x)/∂x = 1 if x > 0 else 0
        self.unary("relu", Tensor::relu, |x, _| if x > 0.0 { 1.0 } else { 0.0 })
    }

    /// GELU, tanh approximation.
    ///
    /// The backward pass is one fused loop, `g·gelu'(x)`, with no
    /// intermediate tensor.
    pub fn gelu(&self) -> Var {
        let x = self.value().contiguous();
        let y = x.gelu();
        // ∂gelu(x)/∂x: see aigc_tensor::gelu_grad_scalar
        Var::from_op("gelu", y, &[self], move |g| {
            let g = g.contiguous();
            let (xs, gs) = (x.as_slice().expect("contiguous"), g.as_slice().expect("contiguous"));
            // SAFETY: gelu_backward_into writes every element of each output chunk and reads none.
            let dx = unsafe { buffer::written_by(xs.len(), |dx| parallel::zip_chunks_into(dx, xs, gs, simd::gelu_backward_into)) };
            Ok(vec![Some(Tensor::from_vec(dx, x.shape())?)])
        })
    }

    /// `|x|`; the derivative at 0 is taken as 0.
    pub fn abs(&self) -> Var {
        // ∂|x|/∂x = sign(x)
        self.unary("abs", Tensor::abs, |x, _| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { 0.0 })
    }
}

