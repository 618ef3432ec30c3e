//! Element-wise arithmetic with broadcasting, and element-wise maps.

use ndarray::{ArrayD, IxDyn, Zip};

use crate::broadcast::broadcast_shape;
use crate::error::{Error, Result};
use crate::parallel;
use crate::Tensor;

impl Tensor {
    /// Combines two tensors element by element after broadcasting them to a common shape.
    pub fn zip_map(
        &self,
        other: &Tensor,
        op: &'static str,
        f: impl Fn(f32, f32) -> f32 + Sync + Send,
    ) -> Result<Tensor> {
        if self.shape() == other.shape() {
            if let (Some(a), Some(b)) = (self.as_slice(), other.as_slice()) {
                let mut out = vec![0.0; a.len()];
                parallel::zip_into(&mut out, a, b, f);
                return Tensor::from_vec(out, self.shape());
            }
        }
        if other.numel() == 1 && other.ndim() <= self.ndim() {
            let b = other.data.iter().next().copied().unwrap_or(0.0);
            return Ok(self.map(|a| f(a, b)));
        }
        let shape = broadcast_shape(op, self.shape(), other.shape())?;
        let a = self.data.broadcast(shape.as_slice()).expect("shape checked");
        let b = other.data.broadcast(shape.as_slice()).expect("shape checked");
        let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
        Zip::from(&mut out).and(&a).and(&b).for_each(|o, &a, &b| *o = f(a, b));
        Ok(Tensor::from_array(out))
    }

    /// Applies `f` to every element, returning a new contiguous tensor.
    pub fn map(&self, f: impl Fn(f32) -> f32 + Sync + Send) -> Tensor {
        let contiguous = self.contiguous();
        let a = contiguous.as_slice().expect("contiguous");
        let mut out = vec![0.0; a.len()];
        parallel::map_into(&mut out, a, f);
        Tensor::from_vec(out, self.shape()).expect("same shape")
    }

    /// `self + other`, broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        self.zip_map(other, "add", |a, b| a + b)
    }

    /// `self - other`, broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.zip_map(other, "sub", |a, b| a - b)
    }

    /// `self * other` element-wise, broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        self.zip_map(other, "mul", |a, b| a * b)
    }

    /// `self / other` element-wise, broadcasting.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        self.zip_map(other, "div", |a, b| a / b)
    }

    /// Returns the element-wise maximum, broadcasting. NaN in either operand gives NaN.
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        self.zip_map(other, "maximum", max_propagating_nan)
    }

    /// `self + value` for every element.
    pub fn add_scalar(&self, value: f32) -> Tensor {
        self.map(|a| a + value)
    }

    /// `self * value` for every element.
    pub fn mul_scalar(&self, value: f32) -> Tensor {
        self.map(|a| a * value)
    }

    /// Adds `other · alpha` into `self` in place (same shape or broadcastable to it).
    pub fn add_scaled_inplace(&mut self, other: &Tensor, alpha: f32) -> Result<()> {
        if self.shape() != other.shape() {
            let stretched = other.broadcast_to(self.shape()).map_err(|_| {
                Error::shape(
                    "add_scaled_inplace",
                    self.shape(),
                    other.shape(),
                    "the added tensor must broadcast to the updated tensor's shape",
                )
            })?;
            return self.add_scaled_inplace(&stretched, alpha);
        }
        let other = other.contiguous();
        let b = other.as_slice().expect("contiguous");
        let a = self.as_slice_mut();
        if a.len() >= parallel::PARALLEL_THRESHOLD {
            use rayon::prelude::*;
            a.par_chunks_mut(1 << 14)
                .zip(b.par_chunks(1 << 14))
                .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(a, &b)| *a += alpha * b));
        } else {
            a.iter_mut().zip(b).for_each(|(a, &b)| *a += alpha * b);
        }
        Ok(())
    }
}

/// `max(a, b)` that returns NaN when either is NaN, as PyTorch's `maximum`
/// does; `f32::max` would return the other operand and hide the NaN.
pub(crate) fn max_propagating_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}
