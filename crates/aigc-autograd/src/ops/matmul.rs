//! Matrix products.

use aigc_tensor::Result;

use crate::Var;

impl Var {
    /// The matrix product `(..., m, k) · (..., k, n) → (..., m, n)`, with
    /// broadcast batch axes.
    pub fn matmul(&self, other: &Var) -> Result<Var> {
        let (a, b) = (self.value(), other.value());
        let value = a.matmul(&b)?;
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        // C = A·B: ∂L/∂A = ∂L/∂C · Bᵀ, ∂L/∂B = Aᵀ · ∂L/∂C, each summed over broadcast batch axes
        Ok(Var::from_op("matmul", value, &[self, other], move |g| {
            let grad_a = if need_a { Some(g.matmul(&b.t()?)?.sum_to_shape(a.shape())?) } else { None };
            let grad_b = if need_b { Some(a.t()?.matmul(g)?.sum_to_shape(b.shape())?) } else { None };
            Ok(vec![grad_a, grad_b])
        }))
    }
}
