//! NumPy broadcasting: aligning shapes from the right, size-1 axes stretch.

use crate::error::{Error, Result};
use crate::Tensor;

/// The shape two operands broadcast to, or an error naming `op` and both shapes.
pub fn broadcast_shape(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
    let ndim = lhs.len().max(rhs.len());
    let mut shape = vec![0; ndim];
    for i in 0..ndim {
        let l = if i < ndim - lhs.len() { 1 } else { lhs[i - (ndim - lhs.len())] };
        let r = if i < ndim - rhs.len() { 1 } else { rhs[i - (ndim - rhs.len())] };
        shape[i] = match (l, r) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => {
                return Err(Error::shape(
                    op,
                    lhs,
                    rhs,
                    format!("axis {i} has sizes {l} and {r}; broadcasting needs equal sizes or 1"),
                ))
            }
        };
    }
    Ok(shape)
}

impl Tensor {
    /// This tensor stretched to `shape` by broadcasting.
    ///
    /// NOTE: the result is a contiguous copy, not a view, because ndarray 0.16
    /// can only broadcast into a borrowed view and `Tensor` owns its storage.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        match self.data.broadcast(shape) {
            Some(view) => Ok(Tensor { data: view.to_shared() }),
            None => Err(Error::shape(
                "broadcast_to",
                self.shape(),
                shape,
                "each axis must match the target size or be 1",
            )),
        }
    }

    /// Sums this tensor down to `shape`, undoing a broadcast.
    ///
    /// This is the gradient of broadcasting: where a size-1 axis (or a
    /// missing leading axis) was stretched, the gradients add up.
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let target_fits = broadcast_shape("sum_to_shape", shape, self.shape())
            .map(|s| s == self.shape())
            .unwrap_or(false);
        if !target_fits {
            return Err(Error::shape(
                "sum_to_shape",
                self.shape(),
                shape,
                "the target shape must broadcast to the tensor's shape",
            ));
        }
        let lead = self.ndim() - shape.len();
        let mut out = self.clone();
        for _ in 0..lead {
            out = out.sum(0, false)?;
        }
        for (axis, &size) in shape.iter().enumerate() {
            if size == 1 && out.shape()[axis] != 1 {
                out = out.sum(axis as isize, true)?;
            }
        }
        Ok(out)
    }
}
