//! The forward pass of [`Gpt::forward_cached`] on plain slices: no graph,
//! no `Var`, and buffers sized once per call.
//!
//! Every step uses the arithmetic of the training forward pass: the same
//! GEMM kernel, [`layer_norm_rows`], [`aigc_tensor::simd::gelu_into`] and
//! the fused attention kernel. So cached logits match [`Gpt::logits`] up to
//! the summation order inside the GEMM kernel, which may depend on the
//! number of rows.

use aigc_autograd::{Result, Tensor};
use aigc_nn::{fused_attention_forward, layer_norm_rows, AttentionDims, HeadLayout, KeysTransposed, LayerNorm, Linear};
use aigc_tensor::gemm::{self, GemmKernel};
use aigc_tensor::{simd, Error};

use super::LayerCache;
use crate::model::{Block, Gpt};

/// Returns a parameter's value as a contiguous tensor, whose slice the steps read.
fn contiguous(var: &aigc_autograd::Var) -> Tensor {
    var.value().contiguous()
}

/// `out = x·Wᵀ + b` for `rows` rows of x, with W `(out, in)` as PyTorch stores it.
fn linear_rows(kernel: &dyn GemmKernel, layer: &Linear, x: &[f32], rows: usize, out: &mut [f32]) -> Result<()> {
    let weight = contiguous(&layer.weight);
    let (out_features, in_features) = (weight.shape()[0], weight.shape()[1]);
    let w = weight.as_slice().expect("contiguous");
    if x.len() != rows * in_features || out.len() != rows * out_features {
        return Err(Error::shape(
            "forward_cached",
            &[rows, x.len(), out.len()],
            weight.shape(),
            "the row buffers do not fit the layer's weight",
        ));
    }
    if rows > 0 && out_features > 0 && in_features > 0 {
        // SAFETY: x is rows × in (row stride in). Wᵀ is in × out, read
        // through W's (out, in) storage (row stride 1, column stride in).
        // out is rows × out. All three lengths were checked above, and out
        // is a distinct mutable buffer.
        unsafe {
            kernel.sgemm(
                rows,
                in_features,
                out_features,
                1.0,
                x.as_ptr(),
                in_features as isize,
                1,
                w.as_ptr(),
                1,
                in_features as isize,
                0.0,
                out.as_mut_ptr(),
                out_features as isize,
                1,
            );
        }
    }
    if let Some(bias) = &layer.bias {
        let bias = contiguous(bias);
        for row in out.chunks_exact_mut(out_features) {
            for (o, &b) in row.iter_mut().zip(bias.as_slice().expect("contiguous")) {
                *o += b;
            }
        }
    }
    Ok(())
}

fn layer_norm(layer: &LayerNorm, x: &[f32], out: &mut [f32]) -> Result<()> {
    let gamma = contiguous(&layer.weight);
    let beta = layer.bias.as_ref().map(contiguous);
    let beta = beta.as_ref().map(|b| b.as_slice().expect("contiguous"));
    layer_norm_rows(x, gamma.as_slice().expect("contiguous"), beta, layer.eps, out)
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Scratch buffers for one call, sized for `rows` new positions.
pub(super) struct Buffers {
    normed: Vec<f32>,
    qkv: Vec<f32>,
    attended: Vec<f32>,
    projected: Vec<f32>,
    hidden: Vec<f32>,
    activated: Vec<f32>,
}

impl Buffers {
    pub(super) fn new(rows: usize, n_embd: usize) -> Buffers {
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

impl Block {
    /// Runs the block in place on the residual stream `x` `(rows, C)` of
    /// `rows` new positions after `start` cached ones. The new keys and
    /// values go into `cache`.
    pub(super) fn decode(
        &self,
        kernel: &dyn GemmKernel,
        x: &mut [f32],
        rows: usize,
        start: usize,
        cache: &mut LayerCache,
        buffers: &mut Buffers,
    ) -> Result<()> {
        let attn = &self.attn;
        let (c, heads) = (attn.n_embd, attn.n_head);
        let d = c / heads;

        // x + c_proj(attention(ln_1(x)))
        layer_norm(&self.ln_1, x, &mut buffers.normed)?;
        linear_rows(kernel, &attn.c_attn, &buffers.normed, rows, &mut buffers.qkv)?; // (rows, 3C): q, k, v
        cache.append(&buffers.qkv, rows, start, heads, d);
        let dims = AttentionDims { batch: 1, heads, queries: rows, keys: start + rows, head_size: d };
        fused_attention_forward(
            (&buffers.qkv, HeadLayout::interleaved(0, 3 * c, d)),
            (&cache.keys_t, cache.keys_layout(d)),
            (&cache.values, HeadLayout::heads_first(cache.capacity, d)),
            (&mut buffers.attended, HeadLayout::interleaved(0, c, d)),
            dims,
            true,
        )?;
        linear_rows(kernel, &attn.c_proj, &buffers.attended, rows, &mut buffers.projected)?;
        add_into(x, &buffers.projected);

        // x + c_proj(gelu(c_fc(ln_2(x))))
        layer_norm(&self.ln_2, x, &mut buffers.normed)?;
        linear_rows(kernel, &self.mlp.c_fc, &buffers.normed, rows, &mut buffers.hidden)?;
        simd::gelu_into(&mut buffers.activated, &buffers.hidden);
        linear_rows(kernel, &self.mlp.c_proj, &buffers.activated, rows, &mut buffers.projected)?;
        add_into(x, &buffers.projected);
        Ok(())
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

impl Gpt {
    /// Returns the logits `(n, V)` of `ids` placed after the `start`
    /// positions cached in `layers`, and writes their keys and values there.
    pub(super) fn decode(&self, ids: &[u32], start: usize, layers: &mut [LayerCache]) -> Result<Tensor> {
        let (n, c, vocab) = (ids.len(), self.config.n_embd, self.config.vocab_size);
        let kernel = gemm::kernel();

        let wte = contiguous(&self.wte.weight);
        let wpe = contiguous(&self.wpe.weight);
        let (wte_rows, wpe_rows) = (wte.as_slice().expect("contiguous"), wpe.as_slice().expect("contiguous"));
        let mut x = vec![0.0f32; n * c]; // (n, C): token plus position embedding
        for (t, (&id, row)) in ids.iter().zip(x.chunks_exact_mut(c)).enumerate() {
            let (token, position) = (id as usize, start + t);
            for ((out, &a), &b) in row.iter_mut().zip(&wte_rows[token * c..(token + 1) * c]).zip(&wpe_rows[position * c..(position + 1) * c]) {
                *out = a + b;
            }
        }

        let mut buffers = Buffers::new(n, c);
        for (block, cache) in self.h.iter().zip(layers.iter_mut()) {
            block.decode(kernel.as_ref(), &mut x, n, start, cache, &mut buffers)?;
        }
        layer_norm(&self.ln_f, &x, &mut buffers.normed)?;
        // LM head tied to the token embedding: logits = x·wteᵀ
        let head = Linear { weight: self.wte.weight.clone(), bias: None };
        let mut logits = vec![0.0f32; n * vocab];
        linear_rows(kernel.as_ref(), &head, &buffers.normed, n, &mut logits)?;
        Tensor::from_vec(logits, &[n, vocab])
    }
}
