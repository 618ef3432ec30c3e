//! The [`AttentionKernel`] trait, and the shape checks and mask every kernel shares.

use aigc_autograd::{Error, Result, Var};
use aigc_tensor::Tensor;

use crate::dropout::Dropout;

/// Computes scaled dot-product attention, `softmax(Q·Kᵀ/√D + M)·V`.
///
/// Shapes: q `(B, H, Tq, D)`, k and v `(B, H, Tk, D)` → `(B, H, Tq, D)`.
/// When `causal`, query i may see key j only if `j ≤ i + (Tk − Tq)`. A query
/// that may attend to no key (possible only when Tq > Tk) gets a zero output.
/// Implementations must return a [`Var`] whose backward gives the gradients
/// of q, k and v, and must agree with [`crate::NaiveAttention`].
pub trait AttentionKernel: Send + Sync {
    /// Returns a short name for logs and benchmarks, such as `"naive"`.
    fn name(&self) -> &'static str;

    /// Attends queries `q` to keys `k` and values `v`.
    ///
    /// Fails, naming `attention` and the shapes, when they do not fit together.
    fn attend(&self, q: &Var, k: &Var, v: &Var, causal: bool) -> Result<Var>;

    /// Attends as [`AttentionKernel::attend`] does, and applies `dropout` to
    /// the attention probabilities, as PyTorch's `scaled_dot_product_attention`
    /// does with `dropout_p`.
    ///
    /// The default calls `attend` when the dropout is inactive (evaluation
    /// mode or p = 0) and otherwise falls back to
    /// [`crate::naive_attention`], which materialises the probabilities. A
    /// kernel that can drop probabilities without materialising them should
    /// override it.
    fn attend_with_dropout(&self, q: &Var, k: &Var, v: &Var, causal: bool, dropout: &Dropout) -> Result<Var> {
        if dropout.is_active() {
            crate::attention::naive_attention(q, k, v, causal, Some(dropout))
        } else {
            self.attend(q, k, v, causal)
        }
    }

    /// Attends the heads packed in one projection and returns them merged:
    /// `qkv` `(B, T, 3C)` contains q, k and v side by side, each `(B, T, C)`
    /// with head h in channels `h·D..(h + 1)·D` (C = H·D, H = `n_head`),
    /// and the result is `(B, T, C)`, the layout `c_proj` reads. Dropout
    /// applies to the probabilities as in
    /// [`AttentionKernel::attend_with_dropout`].
    ///
    /// The default splits the heads into `(B, H, T, D)` views, calls
    /// `attend_with_dropout` and merges the result, which copies each of
    /// them in the backward pass. A kernel that reads the packed layout
    /// directly should override it.
    ///
    /// Fails, naming `attention` and the shape, unless `qkv` is 3-D with a
    /// last axis divisible by 3·`n_head`.
    fn attend_packed(&self, qkv: &Var, n_head: usize, causal: bool, dropout: &Dropout) -> Result<Var> {
        attend_packed_by_heads(self, qkv, n_head, causal, dropout)
    }
}

/// Splits the heads out, attends and merges them: the default
/// [`AttentionKernel::attend_packed`].
pub(crate) fn attend_packed_by_heads<K: AttentionKernel + ?Sized>(
    kernel: &K,
    qkv: &Var,
    n_head: usize,
    causal: bool,
    dropout: &Dropout,
) -> Result<Var> {
    let dims = crate::attention::fused::packed_dims(&qkv.shape(), n_head)?;
    let (batch, time, heads, head_size) = (dims.batch, dims.queries, dims.heads, dims.head_size);
    let channels = heads * head_size;
    let pieces = qkv.split(-1, &[channels, channels, channels])?; // q, k, v: (B, T, C)
    let to_heads = |t: &Var| t.reshape(&[batch, time, heads, head_size])?.permute(&[0, 2, 1, 3]); // (B, H, T, D)
    let (q, k, v) = (to_heads(&pieces[0])?, to_heads(&pieces[1])?, to_heads(&pieces[2])?);
    let y = kernel.attend_with_dropout(&q, &k, &v, causal, dropout)?; // (B, H, T, D)
    y.permute(&[0, 2, 1, 3])?.reshape(&[batch, time, channels]) // (B, T, C)
}

/// The sizes of one attention call, read from its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionDims {
    /// Batch size B.
    pub batch: usize,
    /// Number of heads H.
    pub heads: usize,
    /// Number of queries Tq.
    pub queries: usize,
    /// Number of keys and values Tk.
    pub keys: usize,
    /// Head size D.
    pub head_size: usize,
}

/// Checks that q `(B, H, Tq, D)`, k `(B, H, Tk, D)` and v `(B, H, Tk, D)` fit
/// together and returns their sizes. Errors name `attention` and the two
/// shapes that disagree.
pub fn attention_dims(q: &[usize], k: &[usize], v: &[usize]) -> Result<AttentionDims> {
    if q.len() != 4 {
        return Err(Error::shape("attention", q, k, "q must be 4-D (B, H, Tq, D)"));
    }
    if k.len() != 4 {
        return Err(Error::shape("attention", q, k, "k must be 4-D (B, H, Tk, D)"));
    }
    if q[0] != k[0] || q[1] != k[1] || q[3] != k[3] {
        return Err(Error::shape("attention", q, k, "q (B, H, Tq, D) and k (B, H, Tk, D) must agree in B, H and D"));
    }
    if v != k {
        return Err(Error::shape("attention", k, v, "k and v must have the same shape (B, H, Tk, D)"));
    }
    Ok(AttentionDims { batch: q[0], heads: q[1], queries: q[2], keys: k[2], head_size: q[3] })
}

/// Builds the `(Tq, Tk)` causal mask: 1 where query i may not attend to key j, that is
/// where `j > i + (Tk − Tq)`, and 0 elsewhere.
///
/// ```
/// use aigc_nn::causal_mask;
/// assert_eq!(causal_mask(2, 2).to_vec(), vec![0.0, 1.0, 0.0, 0.0]);
/// assert_eq!(causal_mask(1, 3).to_vec(), vec![0.0, 0.0, 0.0]);  // a cached step attends to all keys
/// ```
pub fn causal_mask(queries: usize, keys: usize) -> Tensor {
    let offset = keys as isize - queries as isize;
    let data = (0..queries * keys)
        .map(|index| {
            let (i, j) = ((index / keys) as isize, (index % keys) as isize);
            if j > i + offset {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(data, &[queries, keys]).expect("queries·keys values")
}
