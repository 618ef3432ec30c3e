//! Reductions along an axis, and over the whole tensor.

use ndarray::Axis;

use crate::elementwise::max_propagating_nan;
use crate::error::{normalize_axis, Error, Result};
use crate::Tensor;

impl Tensor {
    fn reduce_axis(
        &self,
        op: &'static str,
        axis: isize,
        keepdim: bool,
        reduce: impl Fn(ndarray::ArrayViewD<'_, f32>) -> f32,
    ) -> Result<Tensor> {
        let axis = normalize_axis(op, axis, self.shape())?;
        if self.shape()[axis] == 0 && op != "sum" && op != "mean" {
            return Err(Error::invalid(
                op,
                format!("cannot reduce axis {axis} of size 0 in shape {:?}", self.shape()),
            ));
        }
        let reduced = self.data.map_axis(Axis(axis), |lane| reduce(lane.into_dyn()));
        let mut out = Tensor::from_array(reduced);
        if keepdim {
            out = out.unsqueeze(axis as isize)?;
        }
        Ok(out)
    }

    /// Sums along `axis` (negative counts from the end); `keepdim` keeps it with size 1.
    pub fn sum(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let index = normalize_axis("sum", axis, self.shape())?;
        let mut out = Tensor::from_array(self.data.sum_axis(Axis(index)));
        if keepdim {
            out = out.unsqueeze(index as isize)?;
        }
        Ok(out)
    }

    /// The mean along `axis`. The mean over an empty axis is NaN.
    pub fn mean(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let index = normalize_axis("mean", axis, self.shape())?;
        let n = self.shape()[index] as f32;
        Ok(self.sum(axis, keepdim)?.mul_scalar(1.0 / n))
    }

    /// Returns the maximum along `axis`, which is NaN where the lane contains NaN.
    /// Fails on an empty axis.
    pub fn max(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce_axis("max", axis, keepdim, |lane| lane.iter().copied().fold(f32::NEG_INFINITY, max_propagating_nan))
    }

    /// Returns the index of the maximum along `axis`, as f32 values. The first index
    /// wins ties, and the first NaN counts as the maximum, so the result
    /// agrees with [`Tensor::max`]. Fails on an empty axis.
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce_axis("argmax", axis, keepdim, |lane| {
            let mut best = 0;
            let mut best_value = f32::NEG_INFINITY;
            for (i, &v) in lane.iter().enumerate() {
                if v.is_nan() {
                    best = i;
                    break;
                }
                if i == 0 || v > best_value {
                    best = i;
                    best_value = v;
                }
            }
            best as f32
        })
    }

    /// The sum of all elements, as a 0-dimensional tensor.
    pub fn sum_all(&self) -> Tensor {
        Tensor::scalar(self.data.iter().map(|&v| v as f64).sum::<f64>() as f32)
    }

    /// The mean of all elements, as a 0-dimensional tensor; NaN when empty.
    pub fn mean_all(&self) -> Tensor {
        let n = self.numel() as f64;
        Tensor::scalar((self.data.iter().map(|&v| v as f64).sum::<f64>() / n) as f32)
    }

    /// Returns the largest element, or NaN when the tensor contains NaN. Fails on an empty tensor.
    pub fn max_all(&self) -> Result<f32> {
        if self.numel() == 0 {
            return Err(Error::invalid("max_all", "cannot take the maximum of an empty tensor"));
        }
        Ok(self.data.iter().copied().fold(f32::NEG_INFINITY, max_propagating_nan))
    }

    /// The sum of squares of all elements, accumulated in f64.
    pub fn sum_squares(&self) -> f64 {
        self.data.iter().map(|&v| (v as f64) * (v as f64)).sum()
    }
}
