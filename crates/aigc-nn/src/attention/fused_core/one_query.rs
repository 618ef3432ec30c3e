//! The forward pass for a single query that attends to every key, with keys
//! transposed: one step of KV-cache decoding.
//!
//! It does the arithmetic of [`super::forward`] for a block of one row, in
//! the same order (scores and softmax chunk by chunk, the same helpers), so
//! its results equal the general kernel's bit for bit. It only drops what a
//! block of 16 rows needs: the scratch output block, allocated per call, and
//! zeroing the score rows of the 15 absent queries in every chunk.

use aigc_tensor::parallel::{SharedOutput, ThreadTeam};
use aigc_tensor::simd;

use super::{block_product, padded, row_max, scale_and_mask, HeadDims, HeadLayout, Heads, KeysTransposed, SOFTMAX_CHUNK};

/// Largest head size the one-query kernel keeps on the stack; larger heads
/// take the general kernel.
pub(crate) const MAX_HEAD_SIZE: usize = 256;

/// Returns whether [`forward`] handles these sizes: one query, causal or
/// not (it attends to every key either way), head size a multiple of 16 (values
/// are read in place) and at most [`MAX_HEAD_SIZE`].
pub(crate) fn fits(dims: &HeadDims) -> bool {
    dims.queries == 1 && dims.head_size > 0 && dims.head_size.is_multiple_of(16) && dims.head_size <= MAX_HEAD_SIZE
}

/// Computes every head's output for the one query into `y`.
///
/// Requires [`fits`]`(dims)`; the slices must fit their layouts as
/// [`super::forward`] requires.
pub(crate) fn forward(q: Heads, keys_t: &[f32], keys: KeysTransposed, v: Heads, y: &mut [f32], y_layout: HeadLayout, dims: HeadDims) {
    debug_assert!(fits(&dims));
    for h in 0..dims.heads {
        let start = y_layout.index(h, 0, 0);
        head(h, q, (keys_t, keys), v, &mut y[start..start + dims.head_size], dims);
    }
}

/// [`forward`] with the heads split across `team`'s threads. Each head is
/// computed as in [`forward`], so the results are the same bit for bit.
///
/// Requires, beyond what [`forward`] requires, that the heads' outputs do
/// not overlap: `y_layout.head_stride >= dims.head_size`.
pub(crate) fn forward_on(team: &ThreadTeam, q: Heads, keys_t: &[f32], keys: KeysTransposed, v: Heads, y: &mut [f32], y_layout: HeadLayout, dims: HeadDims) {
    debug_assert!(fits(&dims));
    assert!(y_layout.head_stride >= dims.head_size, "the heads' outputs overlap");
    let extent = y_layout.extent(dims.heads, 1, dims.head_size);
    assert!(y.len() >= extent, "y has {} elements, the layout needs {extent}", y.len());
    let y = SharedOutput::new(y);
    team.run(dims.heads, &|h| {
        let start = y_layout.index(h, 0, 0);
        // SAFETY: start + head_size ≤ extent ≤ y.len(), and as heads are at
        // least head_size apart, no two tasks write the same element.
        let out = unsafe { std::slice::from_raw_parts_mut(y.get().add(start), dims.head_size) };
        head(h, q, (keys_t, keys), v, out, dims);
    });
}

/// Computes head `h`'s output for the one query into `out` (`head_size` values).
fn head(h: usize, q: Heads, keys_t: (&[f32], KeysTransposed), v: Heads, out: &mut [f32], dims: HeadDims) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn head_avx2(h: usize, q: Heads, keys_t: (&[f32], KeysTransposed), v: Heads, out: &mut [f32], dims: HeadDims) {
        head_body::<true>(h, q, keys_t, v, out, dims)
    }
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { head_avx2(h, q, keys_t, v, out, dims) };
        return;
    }
    head_body::<false>(h, q, keys_t, v, out, dims)
}

#[inline(always)]
fn head_body<const AVX2: bool>(h: usize, q: Heads, (keys_t, keys): (&[f32], KeysTransposed), v: Heads, y: &mut [f32], dims: HeadDims) {
    let d = dims.head_size;
    let scale = dims.scale();
    let visible = dims.visible(0);
    let mut out = [0.0f32; MAX_HEAD_SIZE];
    let out = &mut out[..d];
    let mut p = [0.0f32; SOFTMAX_CHUNK];

    let query = &q.data[q.layout.index(h, 0, 0)..];
    let keys_t = &keys_t[h * keys.head_stride..];
    let (values, values_ld, values_at) = (v.data, v.layout.time_stride, v.layout.index(h, 0, 0));
    let mut max = f32::NEG_INFINITY;
    let mut denominator = 0.0f32;
    for first_key in (0..visible).step_by(SOFTMAX_CHUNK) {
        let width = padded((visible - first_key).min(SOFTMAX_CHUNK));
        let row = &mut p[..width];
        row.fill(0.0);
        block_product::<AVX2>((1, width, d), (query, q.layout.time_stride, 1), (&keys_t[first_key..], keys.row_stride), (row, SOFTMAX_CHUNK));
        scale_and_mask(row, scale, visible - first_key);
        let new_max = max.max(row_max(row));
        if new_max == f32::NEG_INFINITY {
            row.fill(0.0); // no key seen yet has a finite score
        } else {
            let correction = simd::exp(max - new_max);
            for s in row.iter_mut() {
                *s = simd::exp(*s - new_max);
            }
            denominator = denominator * correction + simd::sum(row);
            if correction != 1.0 {
                simd::scale(correction, out);
            }
            max = new_max;
        }
        let keys_in_chunk = (dims.keys - first_key).min(width);
        let chunk_values = (&values[values_at + first_key * values_ld..], values_ld);
        block_product::<AVX2>((1, d, keys_in_chunk), (&p[..], SOFTMAX_CHUNK, 1), chunk_values, (&mut out[..], d));
    }
    let inverse = if denominator > 0.0 { 1.0 / denominator } else { 0.0 };
    for (target, &o) in y.iter_mut().zip(out.iter()) {
        *target = o * inverse;
    }
}

#[cfg(test)]
mod tests {
    use aigc_tensor::{Rng, Tensor};

    use super::super::{forward_blocks, KeySource};
    use super::*;

    fn random(len: usize, seed: u64) -> Vec<f32> {
        Tensor::randn(&[len], 0.0, 1.0, &mut Rng::seed(seed)).to_vec()
    }

    /// A way to run the one-query kernel.
    #[derive(Debug, Clone, Copy)]
    enum Run {
        /// [`forward`] on the calling thread, with AVX2 where the CPU has it.
        Serial,
        /// Portable code, and the general kernel's portable code too.
        Portable,
        /// [`forward_on`] with a team of three threads.
        Team,
    }

    /// Runs one query against `keys` cached keys with both kernels and
    /// returns (one-query output, general output).
    fn both(heads: usize, keys: usize, head_size: usize, causal: bool, seed: u64, run: Run) -> (Vec<f32>, Vec<f32>) {
        let row_stride = padded(keys.max(1)) + 16; // spare columns, as a cache with room left has
        let layout = KeysTransposed { head_stride: head_size * row_stride, row_stride };
        let keys_t = random(heads * head_size * row_stride, seed);
        let q = random(heads * head_size, seed + 1);
        let v = random(heads * keys * head_size, seed + 2);
        let dims = HeadDims { heads, queries: 1, keys, head_size, causal };
        let q = Heads { data: &q, layout: HeadLayout::interleaved(0, heads * head_size, head_size) };
        let v = Heads { data: &v, layout: HeadLayout::heads_first(keys, head_size) };
        let y_layout = HeadLayout::interleaved(0, heads * head_size, head_size);
        let (mut fast, mut general) = (vec![f32::NAN; heads * head_size], vec![f32::NAN; heads * head_size]);
        let keys = KeySource::Transposed(&keys_t, layout);
        match run {
            Run::Serial => forward(q, &keys_t, layout, v, &mut fast, y_layout, dims),
            Run::Team => forward_on(&ThreadTeam::new(3), q, &keys_t, layout, v, &mut fast, y_layout, dims),
            Run::Portable => {
                for h in 0..heads {
                    head_body::<false>(h, q, (&keys_t, layout), v, &mut fast[h * head_size..(h + 1) * head_size], dims);
                }
                super::super::forward_body::<false>(q, keys, v, &mut general, y_layout, &mut [], dims);
                return (fast, general);
            }
        }
        forward_blocks(q, keys, v, &mut general, y_layout, &mut [], dims);
        (fast, general)
    }

    #[test]
    fn one_query_equals_block_kernel_bit_for_bit() {
        for (i, &keys) in [0, 1, 15, 16, 17, 64, 65, 130, 272].iter().enumerate() {
            for head_size in [16, 32, 64] {
                for (heads, causal) in [(1, true), (3, true), (2, false)] {
                    for run in [Run::Serial, Run::Portable, Run::Team] {
                        let (fast, general) = both(heads, keys, head_size, causal, i as u64, run);
                        let case = format!("{heads} heads, {keys} keys, head size {head_size}, causal {causal}, {run:?}");
                        assert_eq!(fast, general, "{case}");
                    }
                }
            }
        }
    }

    #[test]
    fn only_fitting_sizes_take_this_kernel() {
        let dims = |queries, head_size| HeadDims { heads: 2, queries, keys: 10, head_size, causal: true };
        assert!(fits(&dims(1, 32)));
        assert!(!fits(&dims(2, 32)), "two queries");
        assert!(!fits(&dims(1, 8)), "head size not a multiple of 16");
        assert!(!fits(&dims(1, 0)), "empty heads");
        assert!(!fits(&dims(1, MAX_HEAD_SIZE + 16)), "head too large for the stack buffer");
    }
}
