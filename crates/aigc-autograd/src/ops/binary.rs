//! Broadcasting arithmetic. A broadcast input receives its gradient summed
//! back to its own shape ([`Tensor::sum_to_shape`]).

use aigc_tensor::Result;

use crate::Var;

impl Var {
    /// `self + other`, broadcasting.
    pub fn add(&self, other: &Var) -> Result<Var> {
        let value = self.value().add(&other.value())?;
        let (shape_a, shape_b) = (self.shape(), other.shape());
        // ∂(a + b)/∂a = 1, ∂(a + b)/∂b = 1
        Ok(Var::from_op("add", value, &[self, other], move |g| {
            Ok(vec![Some(g.sum_to_shape(&shape_a)?), Some(g.sum_to_shape(&shape_b)?)])
        }))
    }

    /// `self - other`, broadcasting.
    pub fn sub(&self, other: &Var) -> Result<Var> {
        let value = self.value().sub(&other.value())?;
        let (shape_a, shape_b) = (self.shape(), other.shape());
        // ∂(a - b)/∂a = 1, ∂(a - b)/∂b = -1
        Ok(Var::from_op("sub", value, &[self, other], move |g| {
            Ok(vec![Some(g.sum_to_shape(&shape_a)?), Some(g.neg().sum_to_shape(&shape_b)?)])
        }))
    }

    /// `self * other` element-wise, broadcasting.
    pub fn mul(&self, other: &Var) -> Result<Var> {
        let (a, b) = (self.value(), other.value());
        let value = a.mul(&b)?;
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        // ∂(a·b)/∂a = b, ∂(a·b)/∂b = a
        Ok(Var::from_op("mul", value, &[self, other], move |g| {
            let grad_a = if need_a { Some(g.mul(&b)?.sum_to_shape(a.shape())?) } else { None };
            let grad_b = if need_b { Some(g.mul(&a)?.sum_to_shape(b.shape())?) } else { None };
            Ok(vec![grad_a, grad_b])
        }))
    }

    /// `self / other` element-wise, broadcasting.
    pub fn div(&self, other: &Var) -> Result<Var> {
        let (a, b) = (self.value(), other.value());
        let value = a.div(&b)?;
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        // ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = -a/b²
        Ok(Var::from_op("div", value, &[self, other], move |g| {
            let grad_a = if need_a { Some(g.div(&b)?.sum_to_shape(a.shape())?) } else { None };
            let grad_b = if need_b {
                let a_over_b2 = a.div(&b.mul(&b)?)?;
                Some(g.mul(&a_over_b2)?.neg().sum_to_shape(b.shape())?)
            } else {
                None
            };
            Ok(vec![grad_a, grad_b])
        }))
    }

    /// `self + value` for every element.
    pub fn add_scalar(&self, value: f32) -> Var {
        // ∂(a + c)/∂a = 1
        Var::from_op("add_scalar", self.value().add_scalar(value), &[self], |g| Ok(vec![Some(g.clone())]))
    }

    /// `self * value` for every element.
    pub fn mul_scalar(&self, value: f32) -> Var {
        // ∂(a·c)/∂a = c
        Var::from_op("mul_scalar", self.value().mul_scalar(value), &[self], move |g| {
            Ok(vec![Some(g.mul_scalar(value))])
        })
    }
}

