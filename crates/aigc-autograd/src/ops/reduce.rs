//! Reductions.

use aigc_tensor::{normalize_axis, Result, Tensor};

use crate::Var;

impl Var {
    /// Sums along `axis`; `keepdim` keeps it with size 1.
    pub fn sum(&self, axis: isize, keepdim: bool) -> Result<Var> {
        let value = self.value().sum(axis, keepdim)?;
        let shape = self.shape();
        let index = normalize_axis("sum", axis, &shape)?;
        // ∂(Σᵢ xᵢ)/∂xⱼ = 1: the output gradient is copied along the summed axis.
        Ok(Var::from_op("sum", value, &[self], move |g| {
            let g = if keepdim { g.clone() } else { g.unsqueeze(index as isize)? };
            Ok(vec![Some(g.broadcast_to(&shape)?.contiguous())])
        }))
    }

    /// The mean along `axis`.
    pub fn mean(&self, axis: isize, keepdim: bool) -> Result<Var> {
        let index = normalize_axis("mean", axis, &self.shape())?;
        let n = self.shape()[index] as f32;
        // mean = sum / n
        Ok(self.sum(axis, keepdim)?.mul_scalar(1.0 / n))
    }

    /// The sum of all elements, as a 0-dimensional variable.
    pub fn sum_all(&self) -> Var {
        let shape = self.shape();
        // ∂(Σ x)/∂x = 1 everywhere
        Var::from_op("sum_all", self.value().sum_all(), &[self], move |g| {
            Ok(vec![Some(Tensor::full(&shape, g.item()?))])
        })
    }

    /// The mean of all elements, as a 0-dimensional variable.
    pub fn mean_all(&self) -> Var {
        let n = self.shape().iter().product::<usize>() as f32;
        self.sum_all().mul_scalar(1.0 / n)
    }

    /// The maximum along `axis`. The gradient goes to the first maximal
    /// element of each lane.
    pub fn max(&self, axis: isize, keepdim: bool) -> Result<Var> {
        let x = self.value();
        let value = x.max(axis, keepdim)?;
        let index = normalize_axis("max", axis, x.shape())?;
        let winners = x.argmax(axis, true)?;
        // ∂max/∂xⱼ = 1 for the first j where xⱼ is the maximum, else 0
        Ok(Var::from_op("max", value, &[self], move |g| {
            let g = if keepdim { g.clone() } else { g.unsqueeze(index as isize)? };
            let size = x.shape()[index];
            let mut position_shape = vec![1; x.ndim()];
            position_shape[index] = size;
            let positions = Tensor::arange(size).reshape(&position_shape)?;
            let is_winner = positions.zip_map(&winners, "max", |p, w| if p == w { 1.0 } else { 0.0 })?;
            Ok(vec![Some(is_winner.mul(&g)?)])
        }))
    }
}
