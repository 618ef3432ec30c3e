//! The forward pass of [`Gpt::forward_cached`] on plain slices: no graph,
//! no `Var`, and buffers sized once per call.
//!
//! A cache starting a sequence takes a snapshot of the weights
//! ([`DecodeWeights`]) with every linear layer stored transposed, `(in,
//! out)`. A one-row product `x·Wᵀ` then reads the rows of Wᵀ front to back,
//! which the GEMM kernel does about twice as fast as gathering the columns
//! of W (measured on the tiny preset's layers), and with the same rounding.
//!
//! Every step uses the arithmetic of the training forward pass: the same
//! GEMM kernel, [`layer_norm_rows`], [`aigc_tensor::simd::gelu_into`] and the
//! fused attention kernel. The GEMM kernel rounds each output the same way
//! whatever the layout and the number of rows, so cached logits equal those
//! of [`Gpt::logits`] bit for bit on CPUs with AVX2.

use aigc_autograd::{Result, Tensor, Var};
use aigc_nn::{fused_attention_forward, layer_norm_rows, AttentionDims, HeadLayout, KeysTransposed, LayerNorm, Linear};
use aigc_tensor::gemm::{self, GemmKernel};
use aigc_tensor::{simd, Error};

use super::LayerCache;
use crate::model::Gpt;

/// Returns a contiguous copy of a parameter's values.
fn copy_of(var: &Var) -> Vec<f32> {
    var.value().to_vec()
}

/// A linear layer with its weight stored transposed, `(in, out)`.
struct DenseT {
    weight_t: Vec<f32>,
    bias: Option<Vec<f32>>,
    in_features: usize,
    out_features: usize,
}

impl DenseT {
    fn of(layer: &Linear) -> DenseT {
        let weight = layer.weight.value();
        let (out_features, in_features) = (weight.shape()[0], weight.shape()[1]);
        DenseT { weight_t: transposed(&weight), bias: layer.bias.as_ref().map(copy_of), in_features, out_features }
    }

    /// `out = x·Wᵀ + b` for `rows` rows of x.
    fn apply(&self, kernel: &dyn GemmKernel, x: &[f32], rows: usize, out: &mut [f32]) -> Result<()> {
        let (n_in, n_out) = (self.in_features, self.out_features);
        if x.len() != rows * n_in || out.len() != rows * n_out {
            return Err(Error::shape(
                "forward_cached",
                &[rows, x.len(), out.len()],
                &[n_in, n_out],
                "the row buffers do not fit the layer's (in, out) sizes",
            ));
        }
        if rows > 0 && n_in > 0 && n_out > 0 {
            // SAFETY: x is rows × in with row stride in, Wᵀ is in × out with
            // row stride out, and out is rows × out with row stride out. All
            // three lengths were checked above (Wᵀ's by construction), and
            // out is a distinct mutable buffer.
            unsafe {
                kernel.sgemm(
                    rows,
                    n_in,
                    n_out,
                    1.0,
                    x.as_ptr(),
                    n_in as isize,
                    1,
                    self.weight_t.as_ptr(),
                    n_out as isize,
                    1,
                    0.0,
                    out.as_mut_ptr(),
                    n_out as isize,
                    1,
                );
            }
        }
        if let Some(bias) = &self.bias {
            for row in out.chunks_exact_mut(n_out) {
                for (o, &b) in row.iter_mut().zip(bias) {
                    *o += b;
                }
            }
        }
        Ok(())
    }
}

/// Returns the `(columns, rows)` transpose of a 2-D tensor, contiguous.
fn transposed(matrix: &Tensor) -> Vec<f32> {
    matrix.t().expect("a 2-D weight").contiguous().to_vec()
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
    c_attn: DenseT,
    attn_proj: DenseT,
    ln_2: Norm,
    c_fc: DenseT,
    mlp_proj: DenseT,
}

/// A snapshot of a model's weights in the layouts decoding reads: linear
/// layers transposed, the token table both as it is (for the embedding
/// lookup) and transposed (for the tied LM head).
pub(super) struct DecodeWeights {
    blocks: Vec<BlockWeights>,
    wte: Vec<f32>,
    wte_t: DenseT,
    wpe: Vec<f32>,
    ln_f: Norm,
    n_embd: usize,
    n_head: usize,
}

impl DecodeWeights {
    pub(super) fn of(model: &Gpt) -> DecodeWeights {
        let blocks = model
            .h
            .iter()
            .map(|block| BlockWeights {
                ln_1: Norm::of(&block.ln_1),
                c_attn: DenseT::of(&block.attn.c_attn),
                attn_proj: DenseT::of(&block.attn.c_proj),
                ln_2: Norm::of(&block.ln_2),
                c_fc: DenseT::of(&block.mlp.c_fc),
                mlp_proj: DenseT::of(&block.mlp.c_proj),
            })
            .collect();
        DecodeWeights {
            blocks,
            wte: copy_of(&model.wte.weight),
            wte_t: DenseT::of(&Linear { weight: model.wte.weight.clone(), bias: None }),
            wpe: copy_of(&model.wpe.weight),
            ln_f: Norm::of(&model.ln_f),
            n_embd: model.config.n_embd,
            n_head: model.config.n_head,
        }
    }
}

/// Scratch buffers for one call, sized for `rows` new positions.
struct Buffers {
    normed: Vec<f32>,
    qkv: Vec<f32>,
    attended: Vec<f32>,
    projected: Vec<f32>,
    hidden: Vec<f32>,
    activated: Vec<f32>,
}

impl Buffers {
    fn new(rows: usize, n_embd: usize) -> Buffers {
        Buffers {
            normed: vec![0.0; rows * n_embd],
            qkv: vec![0.0; rows * 3 * n_embd],
            attended: vec![0.0; rows * n_embd],
            projected: vec![0.0; rows * n_embd],
            hidden: vec![0.0; rows * 4 * n_embd],
            activated: vec![0.0; rows * 4 * n_embd],
        }
    }
}

impl BlockWeights {
    /// Runs the block in place on the residual stream `x` `(rows, C)` of
    /// `rows` new positions after `start` cached ones. The new keys and
    /// values go into `cache`.
    fn decode(
        &self,
        kernel: &dyn GemmKernel,
        (n_embd, n_head): (usize, usize),
        x: &mut [f32],
        (rows, start): (usize, usize),
        cache: &mut LayerCache,
        buffers: &mut Buffers,
    ) -> Result<()> {
        let (c, d) = (n_embd, n_embd / n_head);

        // x + c_proj(attention(ln_1(x)))
        self.ln_1.apply(x, &mut buffers.normed)?;
        self.c_attn.apply(kernel, &buffers.normed, rows, &mut buffers.qkv)?; // (rows, 3C): q, k, v
        cache.append(&buffers.qkv, rows, start, n_head, d);
        let dims = AttentionDims { batch: 1, heads: n_head, queries: rows, keys: start + rows, head_size: d };
        fused_attention_forward(
            (&buffers.qkv, HeadLayout::interleaved(0, 3 * c, d)),
            (&cache.keys_t, cache.keys_layout(d)),
            (&cache.values, HeadLayout::heads_first(cache.capacity, d)),
            (&mut buffers.attended, HeadLayout::interleaved(0, c, d)),
            dims,
            true,
        )?;
        self.attn_proj.apply(kernel, &buffers.attended, rows, &mut buffers.projected)?;
        add_into(x, &buffers.projected);

        // x + c_proj(gelu(c_fc(ln_2(x))))
        self.ln_2.apply(x, &mut buffers.normed)?;
        self.c_fc.apply(kernel, &buffers.normed, rows, &mut buffers.hidden)?;
        simd::gelu_into(&mut buffers.activated, &buffers.hidden);
        self.mlp_proj.apply(kernel, &buffers.activated, rows, &mut buffers.projected)?;
        add_into(x, &buffers.projected);
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
    /// Returns the logits `(n, V)` of `ids` placed after the `start`
    /// positions cached in `layers`, and writes their keys and values there.
    pub(super) fn decode(&self, ids: &[u32], start: usize, layers: &mut [LayerCache]) -> Result<Tensor> {
        let (n, c, vocab) = (ids.len(), self.n_embd, self.wte_t.out_features);
        let kernel = gemm::kernel();

        let mut x = vec![0.0f32; n * c]; // (n, C): token plus position embedding
        for (t, (&id, row)) in ids.iter().zip(x.chunks_exact_mut(c)).enumerate() {
            let (token, position) = (id as usize, start + t);
            let token_row = &self.wte[token * c..(token + 1) * c];
            let position_row = &self.wpe[position * c..(position + 1) * c];
            for ((out, &a), &b) in row.iter_mut().zip(token_row).zip(position_row) {
                *out = a + b;
            }
        }

        let mut buffers = Buffers::new(n, c);
        for (block, cache) in self.blocks.iter().zip(layers.iter_mut()) {
            block.decode(kernel.as_ref(), (c, self.n_head), &mut x, (n, start), cache, &mut buffers)?;
        }
        self.ln_f.apply(&x, &mut buffers.normed)?;
        let mut logits = vec![0.0f32; n * vocab]; // LM head tied to the token embedding: x·wteᵀ
        self.wte_t.apply(kernel.as_ref(), &buffers.normed, n, &mut logits)?;
        Tensor::from_vec(logits, &[n, vocab])
    }
}
