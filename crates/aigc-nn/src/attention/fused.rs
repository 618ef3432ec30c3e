//! The fused attention kernel: one graph node per attention call, no
//! `(Tq, Tk)` matrix kept, and a backward pass that recomputes the scores.

use aigc_autograd::{Error, Result, Tensor, Var};
use aigc_tensor::buffer;
use aigc_tensor::parallel::ThreadTeam;
use rayon::prelude::*;

use crate::attention::fused_core::{self, GradTargets, HeadDims, HeadLayout, Heads, KeySource, KeysTransposed, Saved, KEY_BLOCK};
use crate::attention::kernel::{attend_packed_by_heads, attention_dims, AttentionDims, AttentionKernel};
use crate::dropout::Dropout;

/// Multiply-adds of one attention call (about 2·H·Tq·Tk·D per batch
/// element) below which it runs on the calling thread only.
const MIN_PARALLEL_WORK: usize = 1 << 18;

/// Attention computed block by block with an online softmax (the method of
/// FlashAttention), on the CPU.
///
/// The forward pass keeps only the output and one log-sum-exp per query
/// row, so memory grows with Tq + Tk rather than Tq·Tk, and a causal
/// kernel skips the masked keys instead of computing and discarding them.
/// The backward pass recomputes the scores one key block at a time. Batch
/// elements run in parallel on the rayon pool. Each is computed in a fixed
/// order, so results do not depend on the number of threads.
///
/// It agrees with [`crate::NaiveAttention`] to float rounding (tests check
/// 1e-5 on the values and gradients). Dropout on the probabilities needs
/// them materialised, so [`AttentionKernel::attend_with_dropout`] falls back
/// to the naive kernel while dropout is active.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{AttentionKernel, FusedAttention, NaiveAttention};
/// use aigc_tensor::{Rng, Tensor};
/// let mut rng = Rng::seed(0);
/// let q = Var::new(Tensor::randn(&[1, 2, 3, 4], 0.0, 1.0, &mut rng));   // (B, H, Tq, D)
/// let kv = Var::new(Tensor::randn(&[1, 2, 5, 4], 0.0, 1.0, &mut rng));  // (B, H, Tk, D)
/// let fused = FusedAttention.attend(&q, &kv, &kv, true)?.value();
/// let naive = NaiveAttention.attend(&q, &kv, &kv, true)?.value();
/// assert!(fused.max_abs_diff(&naive) < 1e-5);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FusedAttention;

impl AttentionKernel for FusedAttention {
    fn name(&self) -> &'static str {
        "fused"
    }

    fn attend(&self, q: &Var, k: &Var, v: &Var, causal: bool) -> Result<Var> {
        let dims = attention_dims(&q.shape(), &k.shape(), &v.shape())?;
        let (qs, ks, vs) = (q.value().contiguous(), k.value().contiguous(), v.value().contiguous());
        let head_dims = head_dims(&dims, causal);
        let q_layout = HeadLayout::heads_first(dims.queries, dims.head_size);
        let (y, lse) = forward_batched(&separate_inputs(&qs, &ks, &vs, &dims), q_layout, dims.batch, head_dims);
        let y = Tensor::from_vec(y, &[dims.batch, dims.heads, dims.queries, dims.head_size])?;

        let needs = [q.requires_grad(), k.requires_grad(), v.requires_grad()];
        let output = y.clone();
        // ∂L/∂q, ∂L/∂k, ∂L/∂v from recomputed probabilities; the formulas
        // are in the fused_core module documentation.
        Ok(Var::from_op("fused_attention", y, &[q, k, v], move |g| {
            let g = g.contiguous();
            let inputs = separate_inputs(&qs, &ks, &vs, &dims);
            let saved = BatchedSaved::new(&inputs, &output, &g, q_layout, &lse, &head_dims);
            let [mut dq, mut dk, mut dv] = [qs.numel(), ks.numel(), vs.numel()].map(|n| vec![0.0f32; n]);
            let [q_stride, k_stride, v_stride] = [inputs.q.2, inputs.k.2, inputs.v.2];
            let layouts = [inputs.q.1, inputs.k.1, inputs.v.1];
            let run = |b: usize, dq: &mut [f32], dk: &mut [f32], dv: &mut [f32]| {
                let targets = GradTargets::Separate([dq, dk, dv]);
                fused_core::backward(saved.batch(b), saved.dy(b), targets, layouts, head_dims);
            };
            if q_stride == 0 || k_stride == 0 {
                // Empty operands: the zero gradients are already right.
            } else if is_parallel(dims.batch, &head_dims) {
                dq.par_chunks_mut(q_stride)
                    .zip(dk.par_chunks_mut(k_stride))
                    .zip(dv.par_chunks_mut(v_stride))
                    .enumerate()
                    .for_each(|(b, ((dq, dk), dv))| run(b, dq, dk, dv));
            } else {
                dq.chunks_mut(q_stride)
                    .zip(dk.chunks_mut(k_stride))
                    .zip(dv.chunks_mut(v_stride))
                    .enumerate()
                    .for_each(|(b, ((dq, dk), dv))| run(b, dq, dk, dv));
            }
            let grads = [(dq, qs.shape()), (dk, ks.shape()), (dv, vs.shape())];
            let mut out = Vec::with_capacity(3);
            for ((data, shape), need) in grads.into_iter().zip(needs) {
                out.push(if need { Some(Tensor::from_vec(data, shape)?) } else { None });
            }
            Ok(out)
        }))
    }

    fn attend_packed(&self, qkv: &Var, n_head: usize, causal: bool, dropout: &Dropout) -> Result<Var> {
        if dropout.is_active() {
            return attend_packed_by_heads(self, qkv, n_head, causal, dropout);
        }
        let dims = packed_dims(&qkv.shape(), n_head)?;
        let channels = dims.heads * dims.head_size;
        let values = qkv.value().contiguous();
        let head_dims = head_dims(&dims, causal);
        let y_layout = HeadLayout::interleaved(0, channels, dims.head_size);
        let (y, lse) = forward_batched(&packed_inputs(&values, &dims), y_layout, dims.batch, head_dims);
        let y = Tensor::from_vec(y, &[dims.batch, dims.queries, channels])?;

        let output = y.clone();
        // ∂L/∂qkv: the gradients of q, k and v, written side by side as the
        // forward pass read them; the formulas are in the fused_core module.
        Ok(Var::from_op("fused_attention", y, &[qkv], move |g| {
            let g = g.contiguous();
            let inputs = packed_inputs(&values, &dims);
            let saved = BatchedSaved::new(&inputs, &output, &g, y_layout, &lse, &head_dims);
            let per_batch = inputs.q.2;
            let layouts = [inputs.q.1, inputs.k.1, inputs.v.1];
            let run = |b: usize, chunk: &mut [f32]| {
                fused_core::backward(saved.batch(b), saved.dy(b), GradTargets::Packed(chunk), layouts, head_dims);
            };
            let parallel = is_parallel(dims.batch, &head_dims);
            let fill = |dqkv: &mut [f32]| {
                if per_batch == 0 {
                    // Empty projection: nothing to compute.
                } else if parallel {
                    dqkv.par_chunks_mut(per_batch).enumerate().for_each(|(b, chunk)| run(b, chunk));
                } else {
                    dqkv.chunks_mut(per_batch).enumerate().for_each(|(b, chunk)| run(b, chunk));
                }
            };
            // SAFETY: the backward pass writes the q, k and v gradients of
            // every head and position, which together are every element of
            // the projection (3C channels per position), and reads none of
            // them. An empty projection has no elements.
            let dqkv = unsafe { buffer::written_by(values.numel(), fill) };
            Ok(vec![Some(Tensor::from_vec(dqkv, values.shape())?)])
        }))
    }
}

/// Runs the forward pass of [`FusedAttention`] for one sequence on plain
/// slices, for inference code that keeps its own buffers (a KV cache).
///
/// `dims` gives H, Tq, Tk and D (its batch must be 1). q and v are slices
/// with the [`HeadLayout`] of their `(H, T, D)` elements. The keys are
/// given transposed (see [`KeysTransposed`]), because a cache can append to
/// that layout and the kernel then reads it without a copy on every step. The output is written through
/// `y`'s layout; elements outside it are left as they are. Causal masking
/// aligns the last query with the last key, as in [`AttentionKernel::attend`].
///
/// Fails when the batch is not 1, a slice is too short for its layout, or
/// the keys' `row_stride` is shorter than Tk rounded up to [`KEY_BLOCK`].
pub fn fused_attention_forward(
    q: (&[f32], HeadLayout),
    keys_t: (&[f32], KeysTransposed),
    v: (&[f32], HeadLayout),
    y: (&mut [f32], HeadLayout),
    dims: AttentionDims,
    causal: bool,
) -> Result<()> {
    forward_cached(None, q, keys_t, v, y, dims, causal)
}

/// [`fused_attention_forward`] with the heads of a one-query call (a
/// decoding step) split across `team`'s threads. Each head is computed as
/// on one thread, so the results are the same bit for bit. Calls with
/// several queries run as [`fused_attention_forward`] runs them.
pub fn fused_attention_forward_on(
    team: &ThreadTeam,
    q: (&[f32], HeadLayout),
    keys_t: (&[f32], KeysTransposed),
    v: (&[f32], HeadLayout),
    y: (&mut [f32], HeadLayout),
    dims: AttentionDims,
    causal: bool,
) -> Result<()> {
    forward_cached(Some(team), q, keys_t, v, y, dims, causal)
}

/// Checks the inputs of [`fused_attention_forward`] and runs it, on `team`
/// when there is one.
fn forward_cached(
    team: Option<&ThreadTeam>,
    q: (&[f32], HeadLayout),
    keys_t: (&[f32], KeysTransposed),
    v: (&[f32], HeadLayout),
    y: (&mut [f32], HeadLayout),
    dims: AttentionDims,
    causal: bool,
) -> Result<()> {
    const OP: &str = "fused_attention_forward";
    if dims.batch != 1 {
        return Err(Error::invalid(OP, format!("takes one sequence, got a batch of {}", dims.batch)));
    }
    let rows = [("q", q.0.len(), q.1, dims.queries), ("v", v.0.len(), v.1, dims.keys), ("y", y.0.len(), y.1, dims.queries)];
    for (name, len, layout, time) in rows {
        let needed = layout.extent(dims.heads, time, dims.head_size);
        if len < needed {
            return Err(Error::invalid(
                OP,
                format!(
                    "{name} has {len} elements but its layout {layout:?} needs {needed} for {} heads of {time} positions and {} channels",
                    dims.heads, dims.head_size
                ),
            ));
        }
    }
    let (keys, layout) = keys_t;
    let padded_keys = dims.keys.div_ceil(KEY_BLOCK) * KEY_BLOCK;
    if dims.heads > 0 && dims.head_size > 0 && dims.keys > 0 {
        if layout.row_stride < padded_keys {
            return Err(Error::invalid(
                OP,
                format!("the keys' row_stride {} is below {padded_keys}, the {} keys rounded up to a multiple of {KEY_BLOCK}", layout.row_stride, dims.keys),
            ));
        }
        let needed = (dims.heads - 1) * layout.head_stride + (dims.head_size - 1) * layout.row_stride + padded_keys;
        if keys.len() < needed {
            return Err(Error::invalid(OP, format!("the keys have {} elements but their layout {layout:?} needs {needed}", keys.len())));
        }
    }
    let [q, v] = [q, v].map(|(data, layout)| Heads { data, layout });
    let keys = KeySource::Transposed(keys, layout);
    match team {
        Some(team) => fused_core::forward_on(team, q, keys, v, y.0, y.1, &mut [], head_dims(&dims, causal)),
        None => fused_core::forward(q, keys, v, y.0, y.1, &mut [], head_dims(&dims, causal)),
    }
    Ok(())
}

/// Checks a packed projection `(B, T, 3C)` against `n_head` and returns the
/// attention sizes, with Tq = Tk = T and D = C / n_head.
pub(crate) fn packed_dims(shape: &[usize], n_head: usize) -> Result<AttentionDims> {
    let fits = shape.len() == 3 && n_head > 0 && shape[2] % (3 * n_head) == 0;
    if !fits {
        return Err(Error::shape(
            "attention",
            shape,
            &[n_head],
            format!("the packed projection must be (B, T, 3C) with C a multiple of n_head = {n_head}"),
        ));
    }
    let head_size = shape[2] / (3 * n_head);
    Ok(AttentionDims { batch: shape[0], heads: n_head, queries: shape[1], keys: shape[1], head_size })
}

fn head_dims(dims: &AttentionDims, causal: bool) -> HeadDims {
    HeadDims { heads: dims.heads, queries: dims.queries, keys: dims.keys, head_size: dims.head_size, causal }
}

/// Returns whether an attention call of `batch` elements is worth splitting across threads.
fn is_parallel(batch: usize, dims: &HeadDims) -> bool {
    let work = batch * dims.heads * dims.queries * dims.keys * dims.head_size;
    batch > 1 && rayon::current_num_threads() > 1 && work >= MIN_PARALLEL_WORK
}

/// q, k and v of a whole batch: each the data, the layout inside one batch
/// element, and the distance between batch elements.
struct BatchedInputs<'a> {
    q: (&'a [f32], HeadLayout, usize),
    k: (&'a [f32], HeadLayout, usize),
    v: (&'a [f32], HeadLayout, usize),
}

impl<'a> BatchedInputs<'a> {
    /// Returns q, k and v of batch element `b`.
    fn batch(&self, b: usize) -> [Heads<'a>; 3] {
        [self.q, self.k, self.v].map(|(data, layout, stride)| Heads { data: &data[b * stride..], layout })
    }
}

/// Reads q `(B, H, Tq, D)`, k and v `(B, H, Tk, D)`, all contiguous.
fn separate_inputs<'a>(q: &'a Tensor, k: &'a Tensor, v: &'a Tensor, dims: &AttentionDims) -> BatchedInputs<'a> {
    let q_layout = HeadLayout::heads_first(dims.queries, dims.head_size);
    let kv_layout = HeadLayout::heads_first(dims.keys, dims.head_size);
    let q_stride = dims.heads * dims.queries * dims.head_size;
    let kv_stride = dims.heads * dims.keys * dims.head_size;
    BatchedInputs {
        q: (q.as_slice().expect("contiguous"), q_layout, q_stride),
        k: (k.as_slice().expect("contiguous"), kv_layout, kv_stride),
        v: (v.as_slice().expect("contiguous"), kv_layout, kv_stride),
    }
}

/// Reads q, k and v side by side in a contiguous `(B, T, 3C)` projection.
fn packed_inputs<'a>(qkv: &'a Tensor, dims: &AttentionDims) -> BatchedInputs<'a> {
    let channels = dims.heads * dims.head_size;
    let row = 3 * channels;
    let data = qkv.as_slice().expect("contiguous");
    let per_batch = dims.queries * row;
    let layout = |part: usize| HeadLayout::interleaved(part * channels, row, dims.head_size);
    BatchedInputs { q: (data, layout(0), per_batch), k: (data, layout(1), per_batch), v: (data, layout(2), per_batch) }
}

/// Runs the forward pass over a batch; returns the output, laid out by
/// `y_layout` within each batch element, and the `(B, H, Tq)` log-sum-exp.
fn forward_batched(inputs: &BatchedInputs, y_layout: HeadLayout, batch: usize, dims: HeadDims) -> (Vec<f32>, Vec<f32>) {
    let y_per_batch = dims.heads * dims.queries * dims.head_size;
    let lse_per_batch = dims.heads * dims.queries;
    let mut lse = vec![0.0f32; batch * lse_per_batch];
    let run = |b: usize, y: &mut [f32], lse: &mut [f32]| {
        let [q, k, v] = inputs.batch(b);
        fused_core::forward(q, KeySource::Rows(k), v, y, y_layout, lse, dims);
    };
    let parallel = is_parallel(batch, &dims);
    let fill = |y: &mut [f32]| {
        if y_per_batch == 0 {
            // No output elements: nothing to compute, and the lse is never read.
        } else if parallel {
            y.par_chunks_mut(y_per_batch)
                .zip(lse.par_chunks_mut(lse_per_batch))
                .enumerate()
                .for_each(|(b, (y, lse))| run(b, y, lse));
        } else {
            y.chunks_mut(y_per_batch).zip(lse.chunks_mut(lse_per_batch)).enumerate().for_each(|(b, (y, lse))| run(b, y, lse));
        }
    };
    // SAFETY: the forward pass writes the output row of every head and
    // query, which are all `y_per_batch` elements of a batch element
    // (both output layouts are dense), and reads none of them.
    let y = unsafe { buffer::written_by(batch * y_per_batch, fill) };
    (y, lse)
}

/// Everything the backward pass reads, for a whole batch. The output y and
/// its gradient dy share one layout.
struct BatchedSaved<'a> {
    inputs: &'a BatchedInputs<'a>,
    y: &'a [f32],
    dy: &'a [f32],
    out_layout: HeadLayout,
    out_stride: usize,
    lse: &'a [f32],
    lse_stride: usize,
}

impl<'a> BatchedSaved<'a> {
    fn new(
        inputs: &'a BatchedInputs<'a>,
        y: &'a Tensor,
        dy: &'a Tensor,
        out_layout: HeadLayout,
        lse: &'a [f32],
        dims: &HeadDims,
    ) -> Self {
        BatchedSaved {
            inputs,
            y: y.as_slice().expect("contiguous"),
            dy: dy.as_slice().expect("contiguous"),
            out_layout,
            out_stride: dims.heads * dims.queries * dims.head_size,
            lse,
            lse_stride: dims.heads * dims.queries,
        }
    }

    /// Returns the saved forward values of batch element `b`.
    fn batch(&self, b: usize) -> Saved<'a> {
        let [q, k, v] = self.inputs.batch(b);
        let y = Heads { data: &self.y[b * self.out_stride..], layout: self.out_layout };
        Saved { q, k, v, y, lse: &self.lse[b * self.lse_stride..(b + 1) * self.lse_stride] }
    }

    /// Returns the output gradient of batch element `b`.
    fn dy(&self, b: usize) -> Heads<'a> {
        Heads { data: &self.dy[b * self.out_stride..], layout: self.out_layout }
    }
}
