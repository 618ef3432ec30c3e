//! Row-wise loops over the last axis of a contiguous buffer, on the rayon
//! pool when the buffer is large.

use aigc_tensor::parallel::PARALLEL_THRESHOLD;
use rayon::prelude::*;

/// `f(row_index, row)` for each of the `rows` rows of `width` elements in `data`.
pub(crate) fn map_rows<R: Send>(
    data: &[f32],
    rows: usize,
    width: usize,
    f: impl Fn(usize, &[f32]) -> R + Sync + Send,
) -> Vec<R> {
    if width == 0 {
        return (0..rows).map(|row| f(row, &[])).collect();
    }
    if data.len() >= PARALLEL_THRESHOLD {
        data.par_chunks(width).enumerate().map(|(row, values)| f(row, values)).collect()
    } else {
        data.chunks(width).enumerate().map(|(row, values)| f(row, values)).collect()
    }
}

/// `f(row_index, row)` for each row of `width` elements of `out`, to write it.
pub(crate) fn fill_rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if width == 0 {
        return;
    }
    if out.len() >= PARALLEL_THRESHOLD {
        out.par_chunks_mut(width).enumerate().for_each(|(row, values)| f(row, values));
    } else {
        out.chunks_mut(width).enumerate().for_each(|(row, values)| f(row, values));
    }
}

/// `log Σ exp(row)`, computed after subtracting the maximum so it cannot
/// overflow. An empty or all −∞ row gives −∞.
pub(crate) fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return f32::NEG_INFINITY;
    }
    let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
    max + sum.ln()
}

/// Converts row-major position `flat` in `shape` to a multi-index, for error messages.
pub(crate) fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (axis, &size) in shape.iter().enumerate().rev() {
        if size > 0 {
            index[axis] = flat % size;
            flat /= size;
        }
    }
    index
}
