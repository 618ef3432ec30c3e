//! Softmax and log-softmax.

use aigc_tensor::Result;

use crate::Var;

impl Var {
    /// Softmax along `axis`.
    pub fn softmax(&self, axis: isize) -> Result<Var> {
        let y = self.value().softmax(axis)?;
        let output = y.clone();
        // ∂L/∂x = y ⊙ (g - Σ(g ⊙ y)) along the axis
        Ok(Var::from_op("softmax", y, &[self], move |g| {
            let dot = g.mul(&output)?.sum(axis, true)?;
            Ok(vec![Some(output.mul(&g.sub(&dot)?)?)])
        }))
    }

    /// Log-softmax along `axis`.
    pub fn log_softmax(&self, axis: isize) -> Result<Var> {
        let y = self.value().log_softmax(axis)?;
        let output = y.clone();
        // ∂L/∂x = g - softmax(x) · Σ g along the axis
        Ok(Var::from_op("log_softmax", y, &[self], move |g| {
            let total = g.sum(axis, true)?;
            Ok(vec![Some(g.sub(&output.exp().mul(&total)?)?)])
        }))
    }
}
