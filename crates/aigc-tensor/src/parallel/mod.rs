//! When element-wise work is worth splitting across the rayon pool.
//!
//! Small tensors stay on the calling thread: handing a few thousand
//! elements to another core costs more than it saves. Work split thousands
//! of times a second, such as the products of token-by-token decoding, goes
//! to a [`ThreadTeam`] instead.

mod team;

use rayon::prelude::*;

pub use team::{SharedOutput, ThreadTeam, MIN_SPLIT_WORK, WORK_PER_HANDOVER_NS};

/// Element count from which element-wise loops run on the rayon pool.
pub const PARALLEL_THRESHOLD: usize = 1 << 16;

/// Chunk size for parallel element-wise loops.
const CHUNK: usize = 1 << 14;

/// Applies `f` to each element, in parallel when the slice is large.
pub fn for_each_mut(data: &mut [f32], f: impl Fn(&mut f32) + Sync + Send) {
    if data.len() >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        data.par_chunks_mut(CHUNK).for_each(|chunk| chunk.iter_mut().for_each(&f));
    } else {
        data.iter_mut().for_each(f);
    }
}

/// Writes `f(a[i])` into `out[i]`, in parallel when large.
pub fn map_into(out: &mut [f32], a: &[f32], f: impl Fn(f32) -> f32 + Sync + Send) {
    if out.len() >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).for_each(|(o, a)| {
            o.iter_mut().zip(a).for_each(|(o, &a)| *o = f(a));
        });
    } else {
        out.iter_mut().zip(a).for_each(|(o, &a)| *o = f(a));
    }
}

/// Writes `f(a[i], b[i])` into `out[i]`, in parallel when large.
pub fn zip_into(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync + Send) {
    if out.len() >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).for_each(
            |((o, a), b)| {
                o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&a, &b))| *o = f(a, b));
            },
        );
    } else {
        out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&a, &b))| *o = f(a, b));
    }
}

/// Calls `f(out_chunk, a_chunk)` on matching chunks, in parallel when large.
/// For kernels that handle a whole slice at a time, such as [`crate::simd::gelu_into`].
pub fn map_chunks_into(out: &mut [f32], a: &[f32], f: impl Fn(&mut [f32], &[f32]) + Sync + Send) {
    if out.len() >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).for_each(|(o, a)| f(o, a));
    } else {
        f(out, a);
    }
}

/// Calls `f(out_chunk, a_chunk, b_chunk)` on matching chunks, in parallel when large.
pub fn zip_chunks_into(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync + Send) {
    if out.len() >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).for_each(|((o, a), b)| f(o, a, b));
    } else {
        f(out, a, b);
    }
}
