//! Scaled dot-product attention and the multi-head causal self-attention layer.
//!
//! ```text
//! attention(Q, K, V) = softmax(Q·Kᵀ / √D + M)·V
//! ```
//!
//! with Q `(B, H, Tq, D)`, K and V `(B, H, Tk, D)` and output `(B, H, Tq, D)`.
//! M is 0 where query i may attend to key j and −∞ elsewhere. With a causal
//! mask, query i may attend to key j only if `j ≤ i + (Tk − Tq)`, so the last
//! query is aligned with the last key, and a KV-cache step with Tq = 1
//! attends to every key.
//!
//! [`AttentionKernel`] is the swap point: [`NaiveAttention`] materialises the
//! `(Tq, Tk)` scores with ordinary autograd operations and is the reference
//! that faster kernels are tested against. [`FusedAttention`], the default
//! of [`CausalSelfAttention`], computes the same values block by block
//! without that matrix. [`fused_attention_forward`] runs its forward pass on
//! plain slices, for inference code that keeps its own buffers.

mod causal_self_attention;
mod fused;
mod fused_core;
mod kernel;
mod naive;

pub use causal_self_attention::CausalSelfAttention;
pub use fused::{fused_attention_forward, fused_attention_forward_on, FusedAttention};
pub use fused_core::{HeadLayout, KeysTransposed, KEY_BLOCK};
pub use kernel::{attention_dims, causal_mask, AttentionDims, AttentionKernel};
pub use naive::{naive_attention, NaiveAttention};
