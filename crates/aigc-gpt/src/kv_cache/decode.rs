//! The forward pass of [`Gpt::forward_cached`] on plain slices: no graph,
//! no `Var`, and scratch buffers that belong to the cache, so a step
//! allocates nothing once the buffers have grown to its size.
//!
//! A sequence decodes with a snapshot of the weights ([`DecodeWeights`]):
//! every linear layer packed for one-row products, in f32
//! ([`PackedMatrix`]) or 8-bit ([`Q8Matrix`]). A one-row product reads each
//! weight once, so its speed is the speed at which the packed weights
//! stream from memory. With more than one thread in the rayon pool, each
//! product's panels and the attention's heads are split across a
//! [`ThreadTeam`] of that many threads (at most one per core), so that every
//! core streams its share.
//!
//! In f32, every step uses the arithmetic of the training forward pass:
//! [`PackedMatrix::linear`] rounds like the AVX2 GEMM kernel, and
//! [`layer_norm_rows`], [`aigc_tensor::simd::gelu_into`] and the fused
//! attention kernel are the training pass's own. So cached logits equal
//! those of [`Gpt::logits`] bit for bit on CPUs with AVX2.

use std::sync::OnceLock;

use aigc_autograd::{Result, Var};
use aigc_nn::{fused_attention_forward_on, layer_norm_rows, AttentionDims, HeadLayout, KeysTransposed, LayerNorm, Linear};
use aigc_tensor::packed::{PackedMatrix, Q8Matrix, Q8Vector};
use aigc_tensor::parallel::ThreadTeam;
use aigc_tensor::{simd, Tensor};

use super::{LayerCache, Quantization};
use crate::model::Gpt;

/// Returns a contiguous copy of a parameter's values.
fn copy_of(var: &Var) -> Vec<f32> {
    var.value().to_vec()
}

/// A weight matrix `(out, in)` in a decoding format.
enum Weight {
    F32(PackedMatrix),
    Q8(Q8Matrix),
}

/// A linear layer `x·Wᵀ + b` packed for decoding.
struct Dense {
    weight: Weight,
    bias: Option<Vec<f32>>,
    inputs: usize,
    outputs: usize,
}

impl Dense {
    fn of(weight: &Tensor, bias: Option<&Var>, quantization: Quantization) -> Result<Dense> {
        let packed = match quantization {
            Quantization::F32 => Weight::F32(PackedMatrix::pack(weight)?),
            Quantization::Q8 => Weight::Q8(Q8Matrix::quantize(weight)?),
        };
        let (outputs, inputs) = (weight.shape()[0], weight.shape()[1]);
        Ok(Dense { weight: packed, bias: bias.map(copy_of), inputs, outputs })
    }

    fn layer(layer: &Linear, quantization: Quantization) -> Result<Dense> {
        Dense::of(&layer.weight.value(), layer.bias.as_ref(), quantization)
    }

    /// `out = x·Wᵀ + b` for `rows` rows of x, split across `team`.
    /// `quantized` is the scratch for x's 8-bit copy.
    fn apply(&self, team: &ThreadTeam, x: &[f32], rows: usize, out: &mut [f32], quantized: &mut Q8Vector) -> Result<()> {
        match &self.weight {
            Weight::F32(matrix) => matrix.linear_on(team, x, rows, out)?,
            Weight::Q8(matrix) => {
                quantized.quantize(x, rows, self.inputs)?;
                matrix.linear_on(team, quantized, out)?;
            }
        }
        if let Some(bias) = &self.bias {
            for row in out.chunks_exact_mut(self.outputs) {
                for (o, &b) in row.iter_mut().zip(bias) {
                    *o += b;
                }
            }
        }
        Ok(())
    }
}

/// A LayerNorm's parameters.
struct Norm {
    gamma: Vec<f32>,
    beta: Option<Vec<f32>>,
    eps: f32,
}

impl Norm {
    fn of(layer: &LayerNorm) -> Norm {
        Norm { gamma: copy_of(&layer.weight), beta: layer.bias.as_ref().map(copy_of), eps: layer.eps }
    }

    fn apply(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        layer_norm_rows(x, &self.gamma, self.beta.as_deref(), self.eps, out)
    }
}

/// The weights of one block.
struct BlockWeights {
    ln_1: Norm,
    c_attn: Dense,
    attn_proj: Dense,
    ln_2: Norm,
    c_fc: Dense,
    mlp_proj: Dense,
}

/// A snapshot of a model's weights in the layouts decoding reads: linear
/// layers packed, the token table both as it is (for the embedding lookup)
/// and packed (for the tied LM head).
pub(crate) struct DecodeWeights {
    blocks: Vec<BlockWeights>,
    wte: Vec<f32>,
    lm_head: Dense,
    wpe: Vec<f32>,
    ln_f: Norm,
    n_embd: usize,
    n_head: usize,
    /// The threads that split each product: [`decode_threads`] when the
    /// snapshot was taken.
    team: ThreadTeam,
    /// The format of the linear layers.
    pub(crate) quantization: Quantization,
    /// `(id, version)` of every parameter the snapshot was taken from.
    pub(crate) versions: Vec<(usize, u64)>,
}

impl DecodeWeights {
    /// Takes a snapshot of `model`'s weights; `versions` must have been read
    /// before the values (see [`aigc_autograd::Var::version`]).
    pub(crate) fn of(model: &Gpt, quantization: Quantization, versions: Vec<(usize, u64)>) -> Result<DecodeWeights> {
        let blocks = model
            .h
            .iter()
            .map(|block| {
                Ok(BlockWeights {
                    ln_1: Norm::of(&block.ln_1),
                    c_attn: Dense::layer(&block.attn.c_attn, quantization)?,
                    attn_proj: Dense::layer(&block.attn.c_proj, quantization)?,
                    ln_2: Norm::of(&block.ln_2),
                    c_fc: Dense::layer(&block.mlp.c_fc, quantization)?,
                    mlp_proj: Dense::layer(&block.mlp.c_proj, quantization)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let wte = model.wte.weight.value();
        Ok(DecodeWeights {
            blocks,
            wte: wte.to_vec(),
            lm_head: Dense::of(&wte, None, quantization)?,
            wpe: copy_of(&model.wpe.weight),
            ln_f: Norm::of(&model.ln_f),
            n_embd: model.config.n_embd,
            n_head: model.config.n_head,
            team: ThreadTeam::new(decode_threads()),
            quantization,
            versions,
        })
    }

    /// Number of threads that split each product.
    pub(crate) fn threads(&self) -> usize {
        self.team.threads()
    }

    /// Measures again how long a handover between the team's threads takes,
    /// which decides the products worth splitting (see
    /// [`ThreadTeam::measure_handover`]).
    pub(crate) fn measure_handover(&self) {
        if self.team.threads() > 1 {
            self.team.measure_handover();
        }
    }

    /// Returns the last measured handover, or `None` on one thread.
    pub(crate) fn last_handover(&self) -> Option<std::time::Duration> {
        (self.team.threads() > 1).then(|| self.team.last_handover())
    }

    /// Number of tokens in the vocabulary: rows of logits.
    pub(crate) fn vocab_size(&self) -> usize {
        self.lm_head.outputs
    }
}

/// Returns the number of threads decoding splits its products across: the
/// rayon pool's, but no more than the cores this process may run on,
/// because helpers that spin on a shared core only take turns.
pub(crate) fn decode_threads() -> usize {
    // Read once: on Linux the count comes from the CPU affinity and the
    // cgroup quota files, and every sequence start asks for it.
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |cores| cores.get()));
    rayon::current_num_threads().min(cores)
}

/// Scratch buffers of one cache, sized for the largest call so far and
/// reused by later calls.
#[derive(Clone, Default)]
pub(crate) struct Buffers {
    /// `(rows, C)`: the residual stream.
    x: Vec<f32>,
    normed: Vec<f32>,
    qkv: Vec<f32>,
    attended: Vec<f32>,
    projected: Vec<f32>,
    hidden: Vec<f32>,
    activated: Vec<f32>,
    quantized: Q8Vector,
    /// `(rows of logits, V)`, written by [`DecodeWeights::decode`].
    pub(crate) logits: Vec<f32>,
}

impl Buffers {
    /// Sets every buffer's length for `rows` positions, reusing its storage.
    fn resize(&mut self, rows: usize, n_embd: usize) {
        let sizes = [(&mut self.x, 1), (&mut self.normed, 1), (&mut self.qkv, 3), (&mut self.attended, 1), (&mut self.projected, 1)];
        for (buffer, width) in sizes {
            buffer.resize(rows * width * n_embd, 0.0);
        }
        self.hidden.resize(rows * 4 * n_embd, 0.0);
        self.activated.resize(rows * 4 * n_embd, 0.0);
    }
}

/// The positions of a call that get logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogitRows {
    /// Every new position.
    All,
    /// Only the last, which is all that generation needs.
    Last,
}

impl BlockWeights {
    /// Runs the block in place on the residual stream `x` `(rows, C)` of
    /// `rows` new positions after `start` cached ones. The new keys and
    /// values go into `cache`.
    fn decode(&self, team: &ThreadTeam, (n_embd, n_head): (usize, usize), (rows, start): (usize, usize), cache: &mut LayerCache, buffers: &mut Buffers) -> Result<()> {
        let (c, d) = (n_embd, n_embd / n_head);
        let Buffers { x, normed, qkv, attended, projected, hidden, activated, quantized, .. } = buffers;

        // x + c_proj(attention(ln_1(x)))
        self.ln_1.apply(x, normed)?;
        self.c_attn.apply(team, normed, rows, qkv, quantized)?; // (rows, 3C): q, k, v
        cache.append(qkv, rows, start, n_head, d);
        let dims = AttentionDims { batch: 1, heads: n_head, queries: rows, keys: start + rows, head_size: d };
        fused_attention_forward_on(
            team,
            (qkv, HeadLayout::interleaved(0, 3 * c, d)),
            (&cache.keys_t, cache.keys_layout(d)),
            (&cache.values, HeadLayout::heads_first(cache.capacity, d)),
            (attended, HeadLayout::interleaved(0, c, d)),
            dims,
            true,
        )?;
        self.attn_proj.apply(team, attended, rows, projected, quantized)?;
        add_into(x, projected);

        // x + c_proj(gelu(c_fc(ln_2(x))))
        self.ln_2.apply(x, normed)?;
        self.c_fc.apply(team, normed, rows, hidden, quantized)?;
        simd::gelu_into(activated, hidden);
        self.mlp_proj.apply(team, activated, rows, projected, quantized)?;
        add_into(x, projected);
        Ok(())
    }
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

impl LayerCache {
    /// Copies the keys and values of `rows` new positions out of the
    /// `(rows, 3C)` projection into positions `start..start + rows`.
    fn append(&mut self, qkv: &[f32], rows: usize, start: usize, heads: usize, d: usize) {
        let c = heads * d;
        let stride = self.keys_stride;
        for t in 0..rows {
            let (k, v) = (&qkv[t * 3 * c + c..t * 3 * c + 2 * c], &qkv[t * 3 * c + 2 * c..(t + 1) * 3 * c]);
            let position = start + t;
            for h in 0..heads {
                for (channel, &value) in k[h * d..(h + 1) * d].iter().enumerate() {
                    self.keys_t[(h * d + channel) * stride + position] = value;
                }
                let at = (h * self.capacity + position) * d;
                self.values[at..at + d].copy_from_slice(&v[h * d..(h + 1) * d]);
            }
        }
    }

    fn keys_layout(&self, d: usize) -> KeysTransposed {
        KeysTransposed { head_stride: d * self.keys_stride, row_stride: self.keys_stride }
    }
}

impl DecodeWeights {
    /// Runs `ids` placed after the `start` positions cached in `layers`,
    /// writes their keys and values there, and leaves the logits of
    /// `logit_rows` in `buffers.logits` `(1 or ids.len(), V)`.
    pub(crate) fn decode(&self, ids: &[u32], start: usize, layers: &mut [LayerCache], buffers: &mut Buffers, logit_rows: LogitRows) -> Result<()> {
        let (n, c) = (ids.len(), self.n_embd);
        buffers.resize(n, c);

        for (t, (&id, row)) in ids.iter().zip(buffers.x.chunks_exact_mut(c)).enumerate() {
            let (token, position) = (id as usize, start + t);
            let token_row = &self.wte[token * c..(token + 1) * c];
            let position_row = &self.wpe[position * c..(position + 1) * c];
            for ((out, &a), &b) in row.iter_mut().zip(token_row).zip(position_row) {
                *out = a + b;
            }
        }

        for (block, cache) in self.blocks.iter().zip(layers.iter_mut()) {
            block.decode(&self.team, (c, self.n_head), (n, start), cache, buffers)?;
        }

        // LM head tied to the token embedding: ln_f(x)·wteᵀ
        let first = match logit_rows {
            LogitRows::All => 0,
            LogitRows::Last => n - 1,
        };
        let rows = n - first;
        let Buffers { x, normed, quantized, logits, .. } = buffers;
        let normed = &mut normed[..rows * c];
        self.ln_f.apply(&x[first * c..], normed)?;
        logits.resize(rows * self.vocab_size(), 0.0);
        self.lm_head.apply(&self.team, normed, rows, logits, quantized)
    }
}
