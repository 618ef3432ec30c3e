//! Row gathering for embeddings, masking and one-hot encoding.

use crate::error::{Error, Result};
use crate::tensor::element_count;
use crate::Tensor;

/// Converts a tensor of f32 class or token ids to indices, checking each is an
/// integer in `0..limit`. `op` names the caller in the error.
pub fn ids_to_indices(op: &'static str, ids: &Tensor, limit: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(ids.numel());
    for (position, &value) in ids.data.iter().enumerate() {
        if !(value >= 0.0 && value.fract() == 0.0 && (value as usize) < limit) {
            return Err(Error::invalid(
                op,
                format!("id {value} at flat position {position} is not an integer in 0..{limit}"),
            ));
        }
        out.push(value as usize);
    }
    Ok(out)
}

impl Tensor {
    /// Gathers rows of a 2-D table: for ids of shape S, returns shape `S + [columns]`.
    ///
    /// This is the embedding lookup. Ids are f32 values that must be integers
    /// in `0..rows`.
    pub fn gather_rows(&self, ids: &Tensor) -> Result<Tensor> {
        if self.ndim() != 2 {
            return Err(Error::shape("gather_rows", self.shape(), ids.shape(), "the table must be 2-D (rows, columns)"));
        }
        let (rows, columns) = (self.shape()[0], self.shape()[1]);
        let indices = ids_to_indices("gather_rows", ids, rows)?;
        let table = self.contiguous();
        let table = table.as_slice().expect("contiguous");
        let mut out = Vec::with_capacity(indices.len() * columns);
        for &row in &indices {
            out.extend_from_slice(&table[row * columns..(row + 1) * columns]);
        }
        let mut shape = ids.shape().to_vec();
        shape.push(columns);
        Tensor::from_vec(out, &shape)
    }

    /// Adds each row of `self` (shape `S + [columns]`) into row `ids[i]` of a zero
    /// table of `rows` rows: the gradient of [`Tensor::gather_rows`].
    pub fn scatter_add_rows(&self, ids: &Tensor, rows: usize) -> Result<Tensor> {
        let columns = *self.shape().last().unwrap_or(&0);
        if self.ndim() != ids.ndim() + 1 || self.shape()[..ids.ndim()] != *ids.shape() {
            return Err(Error::shape("scatter_add_rows", self.shape(), ids.shape(), "expected values of shape ids.shape + [columns]"));
        }
        let indices = ids_to_indices("scatter_add_rows", ids, rows)?;
        let table_len = element_count("scatter_add_rows", &[rows, columns])?;
        let values = self.contiguous();
        let values = values.as_slice().expect("contiguous");
        let mut table = vec![0.0f32; table_len];
        for (i, &row) in indices.iter().enumerate() {
            let source = &values[i * columns..(i + 1) * columns];
            for (t, &v) in table[row * columns..(row + 1) * columns].iter_mut().zip(source) {
                *t += v;
            }
        }
        Tensor::from_vec(table, &[rows, columns])
    }

    /// Replaces elements with `value` where `mask` (broadcast to this shape) is non-zero.
    pub fn masked_fill(&self, mask: &Tensor, value: f32) -> Result<Tensor> {
        let mask = mask.broadcast_to(self.shape()).map_err(|_| {
            Error::shape("masked_fill", self.shape(), mask.shape(), "the mask must broadcast to the tensor's shape")
        })?;
        self.zip_map(&mask, "masked_fill", |x, m| if m != 0.0 { value } else { x })
    }

    /// A (t, t) mask that is 1 above the diagonal: position i may not see j > i.
    ///
    /// # Panics
    /// When `t·t` overflows `usize`.
    pub fn causal_mask(t: usize) -> Tensor {
        let data = (0..t * t).map(|k| if k % t > k / t { 1.0 } else { 0.0 }).collect();
        Tensor::from_vec(data, &[t, t]).expect("t*t values")
    }

    /// One-hot rows: ids of shape `S` give shape `S + [num_classes]`.
    pub fn one_hot(ids: &Tensor, num_classes: usize) -> Result<Tensor> {
        let indices = ids_to_indices("one_hot", ids, num_classes)?;
        let out_len = element_count("one_hot", &[indices.len(), num_classes])?;
        let mut out = vec![0.0; out_len];
        for (i, &class) in indices.iter().enumerate() {
            out[i * num_classes + class] = 1.0;
        }
        let mut shape = ids.shape().to_vec();
        shape.push(num_classes);
        Tensor::from_vec(out, &shape)
    }
}
