//! Multi-head causal self-attention, as in GPT-2 and nanoGPT.

use std::sync::Arc;

use aigc_autograd::{Error, Result, Var};
use aigc_tensor::Rng;

use crate::attention::kernel::AttentionKernel;
use crate::attention::fused::FusedAttention;
use crate::dropout::Dropout;
use crate::init::Init;
use crate::linear::Linear;
use crate::module::{prefix_generators, prefix_parameters, Generator, Module, Parameter};

/// Multi-head causal self-attention with a fused query/key/value projection.
///
/// Shapes, with C = `n_embd`, H = `n_head` and D = C / H:
///
/// ```text
/// x (B, T, C) → c_attn → (B, T, 3C) → split → q, k, v (B, T, C)
///   → each (B, T, H, D) → (B, H, T, D)
///   → kernel.attend(q, k, v, causal) → (B, H, T, D) → (B, T, C)
///   → c_proj → resid_dropout → (B, T, C)
/// ```
///
/// [`Module::forward`] hands the `(B, T, 3C)` projection to
/// [`AttentionKernel::attend_packed`], which does the middle two lines. The
/// default [`FusedAttention`] reads the heads in place instead of copying
/// them out.
///
/// Parameter names and layouts match nanoGPT's `CausalSelfAttention`:
/// `c_attn.weight` `(3C, C)`, `c_attn.bias` `(3C,)`, `c_proj.weight`
/// `(C, C)`, `c_proj.bias` `(C,)`, with the rows of `c_attn` holding q, then
/// k, then v.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{CausalSelfAttention, Init, Module};
/// use aigc_tensor::{Rng, Tensor};
/// let attn = CausalSelfAttention::new(8, 2, true, 0.0, Init::Normal { std: 0.02 }, &mut Rng::seed(0))?;
/// let x = Var::new(Tensor::ones(&[2, 5, 8]));                  // (B, T, C)
/// assert_eq!(attn.forward(&x)?.shape(), vec![2, 5, 8]);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Clone)]
pub struct CausalSelfAttention {
    /// The query, key and value projections in one layer, `(3C, C)`.
    pub c_attn: Linear,
    /// The output projection, `(C, C)`.
    pub c_proj: Linear,
    /// The number of heads H.
    pub n_head: usize,
    /// The embedding size C.
    pub n_embd: usize,
    /// Dropout on the attention probabilities.
    pub attn_dropout: Dropout,
    /// Dropout on the output, before the residual connection.
    pub resid_dropout: Dropout,
    /// The attention kernel; [`FusedAttention`] unless replaced with
    /// [`CausalSelfAttention::with_kernel`] (for example by
    /// [`crate::NaiveAttention`], the reference).
    pub kernel: Arc<dyn AttentionKernel>,
}

impl CausalSelfAttention {
    /// Creates the layer: `c_attn` drawn from N(0, 0.02²) as in GPT-2,
    /// `c_proj` drawn by `proj_init`, zero biases (if `bias`), and both
    /// dropouts with probability `dropout`, seeded from `rng`.
    ///
    /// Fails when `n_embd` is not a multiple of `n_head`, or when `dropout`
    /// is not in [0, 1).
    pub fn new(n_embd: usize, n_head: usize, bias: bool, dropout: f32, proj_init: Init, rng: &mut Rng) -> Result<Self> {
        if n_head == 0 || n_embd % n_head != 0 {
            return Err(Error::invalid(
                "causal_self_attention",
                format!("n_embd = {n_embd} must be a positive multiple of n_head = {n_head}"),
            ));
        }
        let c_attn = Linear::with_init(n_embd, 3 * n_embd, bias, Init::Normal { std: 0.02 }, rng);
        let c_proj = Linear::with_init(n_embd, n_embd, bias, proj_init, rng);
        let attn_dropout = Dropout::new(dropout, rng.next_u64())?;
        let resid_dropout = Dropout::new(dropout, rng.next_u64())?;
        Ok(CausalSelfAttention {
            c_attn,
            c_proj,
            n_head,
            n_embd,
            attn_dropout,
            resid_dropout,
            kernel: Arc::new(FusedAttention),
        })
    }

    /// Replaces the attention kernel with `kernel`.
    pub fn with_kernel(mut self, kernel: Arc<dyn AttentionKernel>) -> Self {
        self.kernel = kernel;
        self
    }

    /// Returns the head size D = C / H.
    pub fn head_size(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Projects x `(B, T, C)` to queries, keys and values, each split into
    /// heads: `(B, H, T, D)`.
    ///
    /// [`Module::forward`] computes `project_output(attend(project_qkv(x)))`
    /// (through [`AttentionKernel::attend_packed`]); a model with a KV cache
    /// calls these steps itself, appending k and v to the cache in between.
    pub fn project_qkv(&self, x: &Var) -> Result<(Var, Var, Var)> {
        let shape = x.shape();
        self.check_input(&shape)?;
        let (batch, time, channels) = (shape[0], shape[1], shape[2]);
        let (heads, head_size) = (self.n_head, self.head_size());

        let qkv = self.c_attn.forward(x)?; // (B, T, 3C)
        let pieces = qkv.split(-1, &[channels, channels, channels])?; // q, k, v: (B, T, C)
        let to_heads = |t: &Var| t.reshape(&[batch, time, heads, head_size])?.permute(&[0, 2, 1, 3]); // (B, H, T, D)
        Ok((to_heads(&pieces[0])?, to_heads(&pieces[1])?, to_heads(&pieces[2])?))
    }

    /// Fails unless `shape` is `(B, T, C)` with C = `n_embd`.
    fn check_input(&self, shape: &[usize]) -> Result<()> {
        if shape.len() != 3 || shape[2] != self.n_embd {
            return Err(Error::shape(
                "causal_self_attention",
                shape,
                &[self.n_embd],
                format!("the input must be (B, T, C) with C = n_embd = {}", self.n_embd),
            ));
        }
        Ok(())
    }

    /// Merges the heads of y `(B, H, T, D)` into `(B, T, C)`, then applies
    /// `c_proj` and the residual dropout.
    pub fn project_output(&self, y: &Var) -> Result<Var> {
        let shape = y.shape();
        if shape.len() != 4 || shape[1] != self.n_head || shape[3] != self.head_size() {
            return Err(Error::shape(
                "causal_self_attention",
                &shape,
                &[self.n_head, self.head_size()],
                format!(
                    "the attention output must be (B, H, T, D) with H = {} and D = {}",
                    self.n_head,
                    self.head_size()
                ),
            ));
        }
        let (batch, time) = (shape[0], shape[2]);
        let merged = y.permute(&[0, 2, 1, 3])?.reshape(&[batch, time, self.n_embd])?; // (B, T, C)
        let out = self.c_proj.forward(&merged)?; // (B, T, C)
        self.resid_dropout.forward(&out)
    }
}

impl std::fmt::Debug for CausalSelfAttention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CausalSelfAttention")
            .field("n_embd", &self.n_embd)
            .field("n_head", &self.n_head)
            .field("dropout", &self.attn_dropout.p())
            .field("kernel", &self.kernel.name())
            .finish()
    }
}

impl Module for CausalSelfAttention {
    /// Attends every position of x `(B, T, C)` to itself and the positions
    /// before it; returns `(B, T, C)`.
    fn forward(&self, x: &Var) -> Result<Var> {
        self.check_input(&x.shape())?;
        let qkv = self.c_attn.forward(x)?; // (B, T, 3C)
        let y = self.kernel.attend_packed(&qkv, self.n_head, true, &self.attn_dropout)?; // (B, T, C)
        let out = self.c_proj.forward(&y)?; // (B, T, C)
        self.resid_dropout.forward(&out)
    }

    fn parameters(&self) -> Vec<Parameter> {
        let mut parameters = prefix_parameters("c_attn", self.c_attn.parameters());
        parameters.extend(prefix_parameters("c_proj", self.c_proj.parameters()));
        parameters
    }

    fn set_training(&mut self, training: bool) {
        self.attn_dropout.set_training(training);
        self.resid_dropout.set_training(training);
    }

    fn generators(&self) -> Vec<Generator> {
        let mut generators = prefix_generators("attn_dropout", self.attn_dropout.generators());
        generators.extend(prefix_generators("resid_dropout", self.resid_dropout.generators()));
        generators
    }
}
