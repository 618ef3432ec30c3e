//! Reshaping, permuting, slicing and joining.

use ndarray::{Axis, IxDyn, Slice};

use crate::error::{normalize_axis, Error, Result};
use crate::tensor::element_count;
use crate::Tensor;

impl Tensor {
    /// A row-major copy, or a cheap clone when already contiguous.
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() {
            return self.clone();
        }
        Tensor { data: self.data.as_standard_layout().into_owned().into_shared() }
    }

    /// The same elements in a new shape. A view when contiguous, otherwise a copy.
    ///
    /// Fails when the element counts differ.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let count = element_count("reshape", shape)?;
        if count != self.numel() {
            return Err(Error::shape(
                "reshape",
                self.shape(),
                shape,
                format!("{} elements cannot be viewed as {} elements", self.numel(), count),
            ));
        }
        let source = self.contiguous();
        let data = source
            .data
            .into_shape_with_order(IxDyn(shape))
            .map_err(|e| Error::shape("reshape", self.shape(), shape, e.to_string()))?;
        Ok(Tensor { data })
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]`. A view, no copy.
    pub fn permute(&self, axes: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.ndim()];
        let valid = axes.len() == self.ndim()
            && axes.iter().all(|&a| a < self.ndim() && !std::mem::replace(&mut seen[a], true));
        if !valid {
            return Err(Error::shape(
                "permute",
                self.shape(),
                axes,
                format!("the axes must be a permutation of 0..{}", self.ndim()),
            ));
        }
        Ok(Tensor { data: self.data.clone().permuted_axes(IxDyn(axes)) })
    }

    /// Swaps two axes (negative counts from the end). A view, no copy.
    pub fn transpose(&self, axis_a: isize, axis_b: isize) -> Result<Tensor> {
        let a = normalize_axis("transpose", axis_a, self.shape())?;
        let b = normalize_axis("transpose", axis_b, self.shape())?;
        let mut data = self.data.clone();
        data.swap_axes(a, b);
        Ok(Tensor { data })
    }

    /// Swaps the last two axes. A view, no copy. Fails below 2 dimensions.
    pub fn t(&self) -> Result<Tensor> {
        if self.ndim() < 2 {
            return Err(Error::invalid(
                "t",
                format!("needs at least 2 dimensions, got shape {:?}", self.shape()),
            ));
        }
        self.transpose(-2, -1)
    }

    /// Inserts an axis of size 1 at `axis` (which may equal `ndim`, or be negative).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let index = insertion_axis("unsqueeze", axis, self.shape())?;
        Ok(Tensor { data: self.data.clone().insert_axis(Axis(index)) })
    }

    /// Removes an axis of size 1.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let index = normalize_axis("squeeze", axis, self.shape())?;
        if self.shape()[index] != 1 {
            return Err(Error::invalid(
                "squeeze",
                format!("axis {axis} has size {}, expected 1, in shape {:?}", self.shape()[index], self.shape()),
            ));
        }
        Ok(Tensor { data: self.data.clone().index_axis_move(Axis(index), 0) })
    }

    /// The elements `start..start + len` along `axis`. A view, no copy.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let index = normalize_axis("narrow", axis, self.shape())?;
        let size = self.shape()[index];
        let in_bounds = start.checked_add(len).is_some_and(|end| end <= size);
        if !in_bounds {
            return Err(Error::invalid(
                "narrow",
                format!(
                    "range {start}..{} is out of bounds for axis {axis} of size {size} in shape {:?}",
                    start.saturating_add(len),
                    self.shape()
                ),
            ));
        }
        let mut data = self.data.clone();
        data.slice_axis_inplace(Axis(index), Slice::from(start..start + len));
        Ok(Tensor { data })
    }

    /// Joins tensors along `axis`; all other axes must match.
    pub fn concat(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::invalid("concat", "needs at least one tensor"))?;
        let index = normalize_axis("concat", axis, first.shape())?;
        for t in &tensors[1..] {
            let same_rank = t.ndim() == first.ndim();
            let others_match = same_rank
                && (0..first.ndim()).all(|a| a == index || t.shape()[a] == first.shape()[a]);
            if !others_match {
                return Err(Error::shape(
                    "concat",
                    first.shape(),
                    t.shape(),
                    format!("all axes except axis {axis} must match"),
                ));
            }
        }
        let views: Vec<_> = tensors.iter().map(|t| t.data.view()).collect();
        let joined = ndarray::concatenate(Axis(index), &views).map_err(|e| Error::invalid("concat", e.to_string()))?;
        Ok(Tensor::from_array(joined))
    }

    /// Joins tensors of equal shape along a new axis at `axis` (which may
    /// equal `ndim`, or be negative): n tensors of shape S give shape S with
    /// n inserted at `axis`.
    pub fn stack(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::invalid("stack", "needs at least one tensor"))?;
        for t in &tensors[1..] {
            if t.shape() != first.shape() {
                return Err(Error::shape("stack", first.shape(), t.shape(), "all tensors must have the same shape"));
            }
        }
        let index = insertion_axis("stack", axis, first.shape())?;
        let views: Vec<_> = tensors.iter().map(|t| t.data.view()).collect();
        let stacked = ndarray::stack(Axis(index), &views).map_err(|e| Error::invalid("stack", e.to_string()))?;
        Ok(Tensor::from_array(stacked))
    }

    /// Splits along `axis` into pieces of the given sizes (views).
    pub fn split(&self, axis: isize, sizes: &[usize]) -> Result<Vec<Tensor>> {
        let index = normalize_axis("split", axis, self.shape())?;
        let total = sizes.iter().try_fold(0usize, |total, &size| total.checked_add(size));
        if total != Some(self.shape()[index]) {
            return Err(Error::invalid(
                "split",
                format!(
                    "sizes {sizes:?} must add up to size {} of axis {axis} in shape {:?}",
                    self.shape()[index],
                    self.shape()
                ),
            ));
        }
        let mut start = 0;
        let mut pieces = Vec::with_capacity(sizes.len());
        for &len in sizes {
            pieces.push(self.narrow(axis, start, len)?);
            start += len;
        }
        Ok(pieces)
    }
}

/// Resolves the position of a new axis inserted into `shape`: `0..=ndim`, or
/// negative counting from the end, where `-1` appends.
fn insertion_axis(op: &'static str, axis: isize, shape: &[usize]) -> Result<usize> {
    let slots = shape.len() as isize + 1;
    let resolved = if axis < 0 { axis + slots } else { axis };
    if resolved < 0 || resolved >= slots {
        return Err(Error::invalid(
            op,
            format!("axis {axis} is out of range for inserting an axis into shape {shape:?} (valid: -{slots}..{slots})"),
        ));
    }
    Ok(resolved as usize)
}
