//! Numerically stable softmax and log-softmax.
//!
//! Both subtract the row maximum before exponentiating. A row that is all
//! `-inf` (every position masked) gives zeros from softmax and `-inf` from
//! log-softmax, never NaN.

use crate::error::{normalize_axis, Result};
use crate::Tensor;

/// Softmax of one row, in place.
pub fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        row.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Log-softmax of one row, in place.
pub fn log_softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return;
    }
    let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
    let log_sum = max + sum.ln();
    row.iter_mut().for_each(|v| *v -= log_sum);
}

impl Tensor {
    fn rowwise(&self, op: &'static str, axis: isize, f: fn(&mut [f32])) -> Result<Tensor> {
        let index = normalize_axis(op, axis, self.shape())?;
        let last = self.ndim() - 1;
        // Move the axis to the end, work on contiguous rows, move it back.
        let moved = if index == last { self.clone() } else { self.transpose(index as isize, -1)? };
        let mut rows = moved.contiguous();
        let width = *rows.shape().last().expect("at least one axis");
        if width > 0 {
            let data = rows.as_slice_mut();
            if data.len() >= crate::parallel::PARALLEL_THRESHOLD {
                use rayon::prelude::*;
                data.par_chunks_mut(width).for_each(f);
            } else {
                data.chunks_mut(width).for_each(f);
            }
        }
        if index == last {
            Ok(rows)
        } else {
            Ok(rows.transpose(index as isize, -1)?.contiguous())
        }
    }

    /// `exp(x) / Σ exp(x)` along `axis`.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.rowwise("softmax", axis, softmax_row)
    }

    /// `x - log Σ exp(x)` along `axis`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.rowwise("log_softmax", axis, log_softmax_row)
    }
}
