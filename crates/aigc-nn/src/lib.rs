//! # aigc-nn
//!
//! Layers, attention kernels, losses and metrics for aigc, built on
//! [`aigc_autograd::Var`]. Every layer implements [`Module`]: a `forward`
//! pass and named [`Parameter`]s (`weight`, `c_attn.bias`, `0.weight`, ...)
//! that optimizers and checkpoints use.
//!
//! | layer | formula | shapes |
//! | --- | --- | --- |
//! | [`Linear`] (= [`Dense`]) | y = x·Wᵀ + b | `(..., in)` → `(..., out)`, W `(out, in)` |
//! | [`Embedding`] | y = W\[ids\] | ids `S` → `S + (dim,)` |
//! | [`LayerNorm`] | y = (x − μ)/√(σ² + ε)·γ + β | `(..., D)` → `(..., D)` |
//! | [`Dropout`] | y = x·m/(1 − p), m ~ Bernoulli(1 − p) | same shape |
//! | [`ReLU`], [`GELU`], [`Tanh`], [`Sigmoid`], [`Softmax`] | element-wise (softmax on the last axis) | same shape |
//! | [`Sequential`] | layers in order | |
//! | [`NaiveAttention`], [`FusedAttention`] (each an [`AttentionKernel`]) | softmax(Q·Kᵀ/√D + M)·V | `(B, H, Tq, D)`, `(B, H, Tk, D)` → `(B, H, Tq, D)` |
//! | [`CausalSelfAttention`] | multi-head, causal, GPT-2 | `(B, T, C)` → `(B, T, C)` |
//! | [`Mlp`] | dropout(c_proj(gelu(c_fc(x)))) | `(..., C)` → `(..., C)` |
//!
//! The losses in [`loss`] take logits and return a 0-d mean:
//! [`loss::sparse_categorical_crossentropy`] (class ids, −1 ignored),
//! [`loss::categorical_crossentropy`] (distributions or ids) and
//! [`loss::mse`]. [`metrics`] has accuracy and perplexity.
//!
//! A two-layer classifier, one forward and backward pass:
//!
//! ```
//! use aigc_autograd::Var;
//! use aigc_nn::{loss, Linear, Module, ReLU, Sequential};
//! use aigc_tensor::{Rng, Tensor};
//!
//! let mut rng = Rng::seed(0);
//! let model = Sequential::new()
//!     .add(Linear::new(4, 16, true, &mut rng))      // (N, 4) → (N, 16)
//!     .add(ReLU)
//!     .add(Linear::new(16, 3, true, &mut rng));     // (N, 16) → (N, 3) logits
//!
//! let x = Var::new(Tensor::randn(&[8, 4], 0.0, 1.0, &mut rng));
//! let labels = Tensor::from_vec(vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0], &[8])?;
//! let logits = model.forward(&x)?;
//! let loss = loss::sparse_categorical_crossentropy(&logits, &labels)?;
//! loss.backward()?;
//!
//! for p in model.parameters() {
//!     assert_eq!(p.var.grad().unwrap().shape(), p.var.shape().as_slice(), "{}", p.name);
//! }
//! # Ok::<(), aigc_tensor::Error>(())
//! ```
#![warn(missing_docs)]

mod activation;
pub mod attention;
mod dropout;
mod embedding;
mod init;
mod layer_norm;
mod linear;
pub mod loss;
pub mod metrics;
mod mlp;
mod module;
mod rows;
mod sequential;

pub use activation::{ReLU, Sigmoid, Softmax, Tanh, GELU};
pub use attention::{
    attention_dims, causal_mask, fused_attention_forward, fused_attention_forward_on, naive_attention, AttentionDims, AttentionKernel,
    CausalSelfAttention, FusedAttention, HeadLayout, KeysTransposed, NaiveAttention, KEY_BLOCK,
};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use init::Init;
pub use layer_norm::{layer_norm, layer_norm_rows, LayerNorm};
pub use linear::{linear, Dense, Linear};
pub use loss::{categorical_crossentropy, mse, sparse_categorical_crossentropy, IGNORE_INDEX};
pub use metrics::{accuracy, perplexity, sparse_categorical_accuracy};
pub use mlp::Mlp;
pub use module::{prefix_generators, prefix_parameters, Generator, Module, ParamKind, Parameter};
pub use sequential::Sequential;
