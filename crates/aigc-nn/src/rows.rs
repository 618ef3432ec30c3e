//! Row-wise loops over the last axis of a contiguous buffer, on the rayon
//! pool when the buffer is large.

use aigc_tensor::parallel::PARALLEL_THRESHOLD;
use aigc_tensor::simd;
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
///
/// The exponentials use [`simd::exp`] (relative error below 2e-7) and are
/// summed with [`simd::LANES`] partial sums in a fixed order, vectorised
/// with AVX2 when the CPU has it.
pub(crate) fn log_sum_exp(row: &[f32]) -> f32 {
    #[inline(always)]
    fn body(row: &[f32]) -> f32 {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            return f32::NEG_INFINITY;
        }
        max + simd::sum_map(row, |v| simd::exp(v - max)).ln()
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn body_avx2(row: &[f32]) -> f32 {
        body(row)
    }
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { body_avx2(row) };
    }
    body(row)
}

/// Writes `scale·exp(values[i] − shift)` into `out[i]` with [`simd::exp`],
/// vectorised with AVX2 when the CPU has it: the softmax of a row scaled,
/// when `shift` is the row's [`log_sum_exp`].
pub(crate) fn exp_shifted_scaled_into(out: &mut [f32], values: &[f32], shift: f32, scale: f32) {
    #[inline(always)]
    fn body(out: &mut [f32], values: &[f32], shift: f32, scale: f32) {
        for (o, &v) in out.iter_mut().zip(values) {
            *o = simd::exp(v - shift) * scale;
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn body_avx2(out: &mut [f32], values: &[f32], shift: f32, scale: f32) {
        body(out, values, shift, scale)
    }
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { body_avx2(out, values, shift, scale) };
        return;
    }
    body(out, values, shift, scale)
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
