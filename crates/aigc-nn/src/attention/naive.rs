//! The reference attention kernel: explicit scores, softmax, weighted sum.

use aigc_autograd::{Result, Var};

use crate::attention::kernel::{attention_dims, causal_mask, AttentionKernel};
use crate::dropout::Dropout;
use crate::module::Module;

/// Attention built from ordinary autograd operations: it materialises the
/// `(B, H, Tq, Tk)` scores, so memory grows with Tq·Tk. It is the reference
/// that faster kernels are tested against.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{AttentionKernel, NaiveAttention};
/// use aigc_tensor::Tensor;
/// let q = Var::new(Tensor::ones(&[1, 2, 3, 4]));                    // (B, H, Tq, D)
/// let kv = Var::new(Tensor::ones(&[1, 2, 5, 4]));                   // (B, H, Tk, D)
/// assert_eq!(NaiveAttention.attend(&q, &kv, &kv, true)?.shape(), vec![1, 2, 3, 4]);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NaiveAttention;

impl AttentionKernel for NaiveAttention {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn attend(&self, q: &Var, k: &Var, v: &Var, causal: bool) -> Result<Var> {
        naive_attention(q, k, v, causal, None)
    }
}

/// `softmax(Q·Kᵀ/√D + M)·V` with explicit scores, and `dropout` applied to
/// the probabilities when given. Shapes as in [`AttentionKernel::attend`].
pub fn naive_attention(q: &Var, k: &Var, v: &Var, causal: bool, dropout: Option<&Dropout>) -> Result<Var> {
    let dims = attention_dims(&q.shape(), &k.shape(), &v.shape())?;
    let scale = 1.0 / (dims.head_size.max(1) as f32).sqrt();

    let mut scores = q.matmul(&k.t()?)?.mul_scalar(scale); // (B, H, Tq, Tk)
    if causal {
        let mask = causal_mask(dims.queries, dims.keys); // (Tq, Tk), broadcast over B and H
        scores = scores.masked_fill(&mask, f32::NEG_INFINITY)?;
    }
    let mut probabilities = scores.softmax(-1)?; // (B, H, Tq, Tk); a fully masked row is all zeros
    if let Some(dropout) = dropout {
        probabilities = dropout.forward(&probabilities)?;
    }
    probabilities.matmul(v) // (B, H, Tq, D)
}
