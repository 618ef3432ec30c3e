//! Element-wise update loops over a parameter, its gradient and its buffers.
//!
//! Each loop runs on the rayon pool once a tensor reaches
//! [`PARALLEL_THRESHOLD`] elements. Every element is updated independently,
//! so the result does not depend on how the work is split.

use aigc_tensor::parallel::PARALLEL_THRESHOLD;
use rayon::prelude::*;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

fn is_large(len: usize) -> bool {
    len >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1
}

/// Calls `f(param, grad)` on each element.
pub(crate) fn update_with_grad(param: &mut [f32], grad: &[f32], f: impl Fn(&mut f32, f32) + Sync + Send) {
    debug_assert_eq!(param.len(), grad.len());
    let run = |p: &mut [f32], g: &[f32]| p.iter_mut().zip(g).for_each(|(p, &g)| f(p, g));
    if is_large(param.len()) {
        param.par_chunks_mut(CHUNK).zip(grad.par_chunks(CHUNK)).for_each(|(p, g)| run(p, g));
    } else {
        run(param, grad);
    }
}

/// Calls `f(param, grad, buffer)` on each element.
pub(crate) fn update_with_buffer(
    param: &mut [f32],
    grad: &[f32],
    buffer: &mut [f32],
    f: impl Fn(&mut f32, f32, &mut f32) + Sync + Send,
) {
    debug_assert_eq!(param.len(), grad.len());
    debug_assert_eq!(param.len(), buffer.len());
    let run = |p: &mut [f32], g: &[f32], b: &mut [f32]| {
        p.iter_mut().zip(g).zip(b).for_each(|((p, &g), b)| f(p, g, b));
    };
    if is_large(param.len()) {
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(buffer.par_chunks_mut(CHUNK))
            .for_each(|((p, g), b)| run(p, g, b));
    } else {
        run(param, grad, buffer);
    }
}

/// Calls `f(param, grad, first, second)` on each element.
pub(crate) fn update_with_two_buffers(
    param: &mut [f32],
    grad: &[f32],
    first: &mut [f32],
    second: &mut [f32],
    f: impl Fn(&mut f32, f32, &mut f32, &mut f32) + Sync + Send,
) {
    debug_assert_eq!(param.len(), grad.len());
    debug_assert_eq!(param.len(), first.len());
    debug_assert_eq!(param.len(), second.len());
    let run = |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
        p.iter_mut().zip(g).zip(m).zip(v).for_each(|(((p, &g), m), v)| f(p, g, m, v));
    };
    if is_large(param.len()) {
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(first.par_chunks_mut(CHUNK))
            .zip(second.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| run(p, g, m, v));
    } else {
        run(param, grad, first, second);
    }
}

/// Sums the squares of `values` in `f64`, in parallel when large.
///
/// Partial sums are taken over fixed chunks and added in order, so the
/// result is the same for any number of threads.
pub(crate) fn sum_of_squares(values: &[f32]) -> f64 {
    if is_large(values.len()) {
        let partial: Vec<f64> = values.par_chunks(CHUNK).map(chunk_sum).collect();
        partial.iter().sum()
    } else {
        values.chunks(CHUNK).map(chunk_sum).sum()
    }
}

/// Sums the squares of `chunk` in `f64` with eight independent accumulators,
/// which the compiler can keep in SIMD registers. One running sum would wait
/// on the latency of each addition.
fn chunk_sum(chunk: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut lanes = [0.0f64; LANES];
    let mut groups = chunk.chunks_exact(LANES);
    for group in &mut groups {
        for (lane, &x) in lanes.iter_mut().zip(group) {
            *lane += f64::from(x) * f64::from(x);
        }
    }
    let tail: f64 = groups.remainder().iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    lanes.iter().sum::<f64>() + tail
}
