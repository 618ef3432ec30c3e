//! Mini-batches: cutting `(x, y)` tensors into batches, and the
//! [`BatchSource`] trait that streams batches to [`crate::Model::fit_batches`].

use aigc_tensor::{Error, Rng, Tensor};

use crate::error::{Result, TrainError};

/// A stream of training batches for [`crate::Model::fit_batches`], such as
/// random windows of a tokenized text.
pub trait BatchSource {
    /// Draws the next training batch `(x, y)`: inputs and targets with the
    /// same number of rows, for example (B, T) token ids and (B, T) next-token ids.
    fn next_batch(&mut self, rng: &mut Rng) -> Result<(Tensor, Tensor)>;

    /// Returns the batches to measure the validation loss on at each
    /// evaluation, or none when there is no validation data.
    fn validation_batches(&mut self, rng: &mut Rng) -> Result<Vec<(Tensor, Tensor)>>;

    /// Returns the number of tokens (or samples) in one training batch, for throughput.
    fn tokens_per_batch(&self) -> usize;
}

/// A [`BatchSource`] over tensors in memory: each training batch is
/// `batch_size` rows drawn uniformly at random with replacement, and the
/// validation tensors are cut into consecutive batches of `batch_size` rows.
///
/// ```
/// use aigc_tensor::{Rng, Tensor};
/// use aigc_train::{BatchSource, TensorBatches};
/// let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[6, 2])?;
/// let y = Tensor::from_vec(vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0], &[6])?;
/// let mut batches = TensorBatches::new(x, y, 4)?;
/// let (xb, yb) = batches.next_batch(&mut Rng::seed(0))?;
/// assert_eq!((xb.shape(), yb.shape()), (&[4, 2][..], &[4][..]));
/// # Ok::<(), aigc_train::TrainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TensorBatches {
    x: Tensor,
    y: Tensor,
    batch_size: usize,
    validation: Option<(Tensor, Tensor)>,
}

impl TensorBatches {
    /// Batches of `batch_size` rows of `x` and `y`.
    ///
    /// Fails when `batch_size` is 0, when `x` and `y` differ in rows, or when
    /// they have no rows.
    pub fn new(x: Tensor, y: Tensor, batch_size: usize) -> Result<Self> {
        check_batch_size("TensorBatches::new", batch_size)?;
        check_xy("TensorBatches::new", &x, &y)?;
        Ok(TensorBatches { x, y, batch_size, validation: None })
    }

    /// Adds validation data to the source.
    pub fn with_validation(mut self, x: Tensor, y: Tensor) -> Result<Self> {
        check_xy("TensorBatches::with_validation", &x, &y)?;
        self.validation = Some((x, y));
        Ok(self)
    }
}

impl BatchSource for TensorBatches {
    fn next_batch(&mut self, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
        let rows = self.x.shape()[0];
        let indices: Vec<usize> = (0..self.batch_size).map(|_| rng.below(rows)).collect();
        Ok((take_rows(&self.x, &indices)?, take_rows(&self.y, &indices)?))
    }

    fn validation_batches(&mut self, _rng: &mut Rng) -> Result<Vec<(Tensor, Tensor)>> {
        let Some((x, y)) = &self.validation else { return Ok(Vec::new()) };
        let mut batches = Vec::new();
        for (start, len) in batch_ranges(x.shape()[0], self.batch_size) {
            batches.push((x.narrow(0, start, len)?, y.narrow(0, start, len)?));
        }
        Ok(batches)
    }

    /// `batch_size` times the elements in one row of `x`: tokens for (N, T) token ids.
    fn tokens_per_batch(&self) -> usize {
        let rows = self.x.shape()[0].max(1);
        self.batch_size * (self.x.numel() / rows)
    }
}

/// Copies the rows `indices` (along axis 0) of `t` into a new tensor, in that order.
pub(crate) fn take_rows(t: &Tensor, indices: &[usize]) -> Result<Tensor> {
    let rows = t.shape().first().copied().unwrap_or(0);
    let row_len = t.numel().checked_div(rows).unwrap_or(0);
    let source = t.contiguous();
    let values = source.as_slice().expect("contiguous() gives row-major storage");
    let mut out = Vec::with_capacity(indices.len() * row_len);
    for &row in indices {
        if row >= rows {
            return Err(
                Error::invalid("take_rows", format!("row {row} is out of range for shape {:?}", t.shape())).into()
            );
        }
        out.extend_from_slice(&values[row * row_len..(row + 1) * row_len]);
    }
    let mut shape = t.shape().to_vec();
    shape[0] = indices.len();
    Ok(Tensor::from_vec(out, &shape)?)
}

/// `(start, len)` of consecutive batches covering `rows` rows; the last may be shorter.
pub(crate) fn batch_ranges(rows: usize, batch_size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..rows).step_by(batch_size.max(1)).map(move |start| (start, batch_size.min(rows - start)))
}

/// Checks that `x` and `y` have at least one dimension, the same number of
/// rows, and at least one row. Returns the number of rows.
pub(crate) fn check_xy(op: &'static str, x: &Tensor, y: &Tensor) -> Result<usize> {
    if x.ndim() == 0 || y.ndim() == 0 {
        return Err(TrainError::invalid(
            op,
            format!("x and y need a leading sample axis, got shapes {:?} and {:?}", x.shape(), y.shape()),
        ));
    }
    let (x_rows, y_rows) = (x.shape()[0], y.shape()[0]);
    if x_rows != y_rows {
        return Err(TrainError::invalid(
            op,
            format!(
                "x has {x_rows} samples but y has {y_rows} (shapes {:?} and {:?}); they must have the same length",
                x.shape(),
                y.shape()
            ),
        ));
    }
    if x_rows == 0 {
        return Err(TrainError::invalid(op, format!("x and y are empty (shapes {:?} and {:?})", x.shape(), y.shape())));
    }
    Ok(x_rows)
}

/// Fails when `batch_size` is 0.
pub(crate) fn check_batch_size(op: &'static str, batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(TrainError::invalid(op, "batch_size is 0; it must be at least 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_rows_copies_in_order() {
        let t = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[3, 2]).unwrap();
        let taken = take_rows(&t, &[2, 0, 2]).unwrap();
        assert_eq!(taken.shape(), &[3, 2]);
        assert_eq!(taken.to_vec(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
    }

    #[test]
    fn take_rows_rejects_out_of_range() {
        let t = Tensor::zeros(&[3, 2]);
        assert!(take_rows(&t, &[3]).is_err());
    }

    #[test]
    fn batch_ranges_cover_rows() {
        let ranges: Vec<_> = batch_ranges(10, 4).collect();
        assert_eq!(ranges, vec![(0, 4), (4, 4), (8, 2)]);
        assert_eq!(batch_ranges(0, 4).count(), 0);
    }
}
