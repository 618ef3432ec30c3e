//! Shape operations. Their backward moves the gradient back to the input's layout.

use aigc_tensor::{normalize_axis, Error, Result, Tensor};

use crate::Var;

impl Var {
    /// The same elements in a new shape.
    pub fn reshape(&self, shape: &[usize]) -> Result<Var> {
        let value = self.value().reshape(shape)?;
        let original = self.shape();
        // reshaping moves no element: reshape the gradient back
        Ok(Var::from_op("reshape", value, &[self], move |g| Ok(vec![Some(g.reshape(&original)?)])))
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]`.
    pub fn permute(&self, axes: &[usize]) -> Result<Var> {
        let value = self.value().permute(axes)?;
        let mut inverse = vec![0; axes.len()];
        for (i, &a) in axes.iter().enumerate() {
            inverse[a] = i;
        }
        // the inverse permutation carries the gradient back
        Ok(Var::from_op("permute", value, &[self], move |g| Ok(vec![Some(g.permute(&inverse)?.contiguous())])))
    }

    /// Swaps two axes.
    pub fn transpose(&self, axis_a: isize, axis_b: isize) -> Result<Var> {
        let value = self.value().transpose(axis_a, axis_b)?;
        // swapping the same two axes again is the inverse
        Ok(Var::from_op("transpose", value, &[self], move |g| {
            Ok(vec![Some(g.transpose(axis_a, axis_b)?.contiguous())])
        }))
    }

    /// Swaps the last two axes.
    pub fn t(&self) -> Result<Var> {
        if self.shape().len() < 2 {
            return Err(Error::invalid("t", format!("needs at least 2 dimensions, got shape {:?}", self.shape())));
        }
        self.transpose(-2, -1)
    }

    /// Inserts an axis of size 1.
    pub fn unsqueeze(&self, axis: isize) -> Result<Var> {
        let value = self.value().unsqueeze(axis)?;
        let original = self.shape();
        Ok(Var::from_op("unsqueeze", value, &[self], move |g| Ok(vec![Some(g.reshape(&original)?)])))
    }

    /// Removes an axis of size 1.
    pub fn squeeze(&self, axis: isize) -> Result<Var> {
        let value = self.value().squeeze(axis)?;
        let original = self.shape();
        Ok(Var::from_op("squeeze", value, &[self], move |g| Ok(vec![Some(g.reshape(&original)?)])))
    }

    /// Stretches size-1 axes to `shape` (broadcasting).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Var> {
        let value = self.value().broadcast_to(shape)?.contiguous();
        let original = self.shape();
        // copies of one element receive the sum of their gradients
        Ok(Var::from_op("broadcast_to", value, &[self], move |g| Ok(vec![Some(g.sum_to_shape(&original)?)])))
    }

    /// The elements `start..start + len` along `axis`.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Var> {
        let value = self.value().narrow(axis, start, len)?;
        let shape = self.shape();
        let index = normalize_axis("narrow", axis, &shape)?;
        // the gradient lands in the selected range, zeros elsewhere
        Ok(Var::from_op("narrow", value, &[self], move |g| {
            let mut before = shape.clone();
            before[index] = start;
            let mut after = shape.clone();
            after[index] = shape[index] - start - len;
            let padded = Tensor::concat(&[&Tensor::zeros(&before), g, &Tensor::zeros(&after)], index as isize)?;
            Ok(vec![Some(padded)])
        }))
    }

    /// Splits along `axis` into pieces of the given sizes.
    pub fn split(&self, axis: isize, sizes: &[usize]) -> Result<Vec<Var>> {
        let index = normalize_axis("split", axis, &self.shape())?;
        let total: usize = sizes.iter().sum();
        if total != self.shape()[index] {
            return Err(Error::invalid(
                "split",
                format!("sizes {sizes:?} add up to {total}, but axis {axis} of shape {:?} has size {}", self.shape(), self.shape()[index]),
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

    /// Joins variables along `axis`.
    pub fn concat(vars: &[&Var], axis: isize) -> Result<Var> {
        let values: Vec<Tensor> = vars.iter().map(|v| v.value()).collect();
        let refs: Vec<&Tensor> = values.iter().collect();
        let value = Tensor::concat(&refs, axis)?;
        let index = normalize_axis("concat", axis, value.shape())?;
        let sizes: Vec<usize> = values.iter().map(|v| v.shape()[index]).collect();
        // each input receives its own slice of the gradient
        Ok(Var::from_op("concat", value, vars, move |g| {
            Ok(g.split(index as isize, &sizes)?.into_iter().map(|piece| Some(piece.contiguous())).collect())
        }))
    }
}
