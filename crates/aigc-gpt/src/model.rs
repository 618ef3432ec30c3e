//! The GPT model, in composition order: Block, then Gpt.
//!
//! The attention and MLP sublayers come from aigc-nn
//! ([`CausalSelfAttention`], [`Mlp`]). Shapes: B batch, T time, C = n_embd,
//! V = vocab_size.

use aigc_autograd::{Result, Tensor, Var};
use aigc_nn::{
    prefix_generators, prefix_parameters, sparse_categorical_crossentropy, CausalSelfAttention, Dropout, Embedding,
    Generator, Init, LayerNorm, Mlp, Module, Parameter,
};
use aigc_tensor::{Error, Rng};

use crate::config::GptConfig;
use crate::kv_cache::{DecodeWeightsCache, Quantization};

/// Standard deviation of GPT-2's weight initialisation.
const INIT_STD: f32 = 0.02;

/// The seed [`Gpt::new`] uses, so that two models built the same way are equal.
pub const DEFAULT_SEED: u64 = 1337;

/// A pre-LayerNorm transformer block: two residual branches.
pub struct Block {
    /// LayerNorm before attention.
    pub ln_1: LayerNorm,
    /// Causal multi-head self-attention.
    pub attn: CausalSelfAttention,
    /// LayerNorm before the MLP.
    pub ln_2: LayerNorm,
    /// The position-wise feed-forward network.
    pub mlp: Mlp,
}

impl Block {
    fn new(config: &GptConfig, rng: &mut Rng) -> Result<Block> {
        // GPT-2 scales the residual projections by 1/√(2·n_layer), because
        // each block adds two of them to the residual stream.
        let proj_init = Init::Normal { std: INIT_STD / (2.0 * config.n_layer as f32).sqrt() };
        Ok(Block {
            ln_1: LayerNorm::new(config.n_embd, config.bias),
            attn: CausalSelfAttention::new(config.n_embd, config.n_head, config.bias, config.dropout, proj_init, rng)?,
            ln_2: LayerNorm::new(config.n_embd, config.bias),
            mlp: Mlp::new(config.n_embd, 4 * config.n_embd, config.bias, config.dropout, proj_init, rng)?,
        })
    }
}

impl Module for Block {
    /// x (B, T, C) → (B, T, C).
    fn forward(&self, x: &Var) -> Result<Var> {
        let x = x.add(&self.attn.forward(&self.ln_1.forward(x)?)?)?;
        x.add(&self.mlp.forward(&self.ln_2.forward(&x)?)?)
    }

    fn parameters(&self) -> Vec<Parameter> {
        let mut params = prefix_parameters("ln_1", self.ln_1.parameters());
        params.extend(prefix_parameters("attn", self.attn.parameters()));
        params.extend(prefix_parameters("ln_2", self.ln_2.parameters()));
        params.extend(prefix_parameters("mlp", self.mlp.parameters()));
        params
    }

    fn set_training(&mut self, training: bool) {
        self.attn.set_training(training);
        self.mlp.set_training(training);
    }

    fn generators(&self) -> Vec<Generator> {
        let mut generators = prefix_generators("attn", self.attn.generators());
        generators.extend(prefix_generators("mlp", self.mlp.generators()));
        generators
    }
}

/// A GPT language model: token and position embeddings, `n_layer` blocks, a
/// final LayerNorm, and an LM head tied to the token embedding.
///
/// ```
/// use aigc_gpt::{Gpt, GptConfig};
/// use aigc_tensor::Tensor;
/// let config = GptConfig { vocab_size: 16, n_layer: 1, n_head: 2, n_embd: 8, block_size: 8, dropout: 0.0, bias: true };
/// let model = Gpt::new(config)?;
/// let ids = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3])?;     // (B, T)
/// let logits = model.logits(&ids)?;                               // (B, T, V)
/// assert_eq!(logits.shape(), vec![1, 3, 16]);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub struct Gpt {
    /// The shapes this model was built with.
    pub config: GptConfig,
    /// Token embedding (V, C); also the LM head.
    pub wte: Embedding,
    /// Position embedding (block_size, C).
    pub wpe: Embedding,
    /// Dropout on the embeddings.
    pub drop: Dropout,
    /// The transformer blocks.
    pub h: Vec<Block>,
    /// The final LayerNorm.
    pub ln_f: LayerNorm,
    /// The weight format of generation ([`Gpt::set_quantization`]).
    quantization: Quantization,
    /// The weights of the last decoded sequence, packed for decoding.
    pub(crate) decode_weights: DecodeWeightsCache,
}

/// The GPT under the name users of aigc's chatbot know it by.
pub type ChatGPT = Gpt;

impl Gpt {
    /// Builds a model with GPT-2 initialisation from [`DEFAULT_SEED`].
    pub fn new(config: GptConfig) -> Result<Gpt> {
        Gpt::with_seed(config, DEFAULT_SEED)
    }

    /// Builds a model with GPT-2 initialisation from `seed`: weights and
    /// embeddings N(0, 0.02²), residual projections N(0, (0.02/√(2·n_layer))²),
    /// biases 0, LayerNorm scale 1.
    pub fn with_seed(config: GptConfig, seed: u64) -> Result<Gpt> {
        config.validate()?;
        let mut rng = Rng::seed(seed);
        let embedding_init = Init::Normal { std: INIT_STD };
        let wte = Embedding::new(config.vocab_size, config.n_embd, embedding_init, &mut rng);
        let wpe = Embedding::new(config.block_size, config.n_embd, embedding_init, &mut rng);
        let h = (0..config.n_layer).map(|_| Block::new(&config, &mut rng)).collect::<Result<Vec<_>>>()?;
        let drop = Dropout::new(config.dropout, rng.next_u64())?;
        let ln_f = LayerNorm::new(config.n_embd, config.bias);
        Ok(Gpt { config, wte, wpe, drop, h, ln_f, quantization: Quantization::F32, decode_weights: DecodeWeightsCache::default() })
    }

    /// Sets the weight format that [`Gpt::generate`], [`Gpt::generate_stream`]
    /// and [`Gpt::new_kv_cache`] decode with; [`Quantization::F32`] (exact)
    /// by default. Training and [`Gpt::logits`] always use the f32 weights.
    ///
    /// The model keeps the weights packed for the last decoded sequence
    /// (about the size of the parameters in f32, a quarter of it in Q8) and
    /// reuses them until a parameter changes.
    pub fn set_quantization(&mut self, quantization: Quantization) {
        self.quantization = quantization;
    }

    /// Returns the weight format of generation (see [`Gpt::set_quantization`]).
    pub fn quantization(&self) -> Quantization {
        self.quantization
    }

    /// Logits (B, T, V) for token ids (B, T), given as f32 values.
    ///
    /// Fails when T exceeds `block_size` or an id is outside the vocabulary.
    pub fn logits(&self, ids: &Tensor) -> Result<Var> {
        if ids.ndim() != 2 {
            return Err(Error::invalid("gpt", format!("expected token ids of shape (B, T), got {:?}", ids.shape())));
        }
        let t = ids.shape()[1];
        if t > self.config.block_size {
            return Err(Error::invalid(
                "gpt",
                format!("sequence length {t} exceeds block_size {}; crop the input to the last {} tokens", self.config.block_size, self.config.block_size),
            ));
        }
        let tok_emb = self.wte.forward_ids(ids)?; // (B, T, C)
        let pos_emb = self.wpe.forward_ids(&Tensor::arange(t))?; // (T, C)
        let mut x = self.drop.forward(&tok_emb.add(&pos_emb)?)?;
        for block in &self.h {
            x = block.forward(&x)?;
        }
        let x = self.ln_f.forward(&x)?;
        // LM head tied to the token embedding: logits = x · wteᵀ
        let (b, c) = (ids.shape()[0], self.config.n_embd);
        let logits = x.reshape(&[b * t, c])?.matmul(&self.wte.weight.t()?)?;
        logits.reshape(&[b, t, self.config.vocab_size])
    }

    /// Logits and the mean cross-entropy loss against `targets` (B, T) of next-token ids
    /// (−1 marks a position that does not count).
    pub fn forward_with_loss(&self, ids: &Tensor, targets: &Tensor) -> Result<(Var, Var)> {
        let logits = self.logits(ids)?;
        let loss = sparse_categorical_crossentropy(&logits, targets)?;
        Ok((logits, loss))
    }
}

impl Module for Gpt {
    /// ids (B, T) as a constant `Var` → logits (B, T, V).
    fn forward(&self, ids: &Var) -> Result<Var> {
        self.logits(&ids.value())
    }

    fn parameters(&self) -> Vec<Parameter> {
        let mut params = prefix_parameters("wte", self.wte.parameters());
        params.extend(prefix_parameters("wpe", self.wpe.parameters()));
        for (i, block) in self.h.iter().enumerate() {
            params.extend(prefix_parameters(&format!("h.{i}"), block.parameters()));
        }
        params.extend(prefix_parameters("ln_f", self.ln_f.parameters()));
        params
    }

    fn set_training(&mut self, training: bool) {
        self.drop.set_training(training);
        for block in &mut self.h {
            block.set_training(training);
        }
    }

    /// The dropout generators: `drop.rng`, then each block's.
    fn generators(&self) -> Vec<Generator> {
        let mut generators = prefix_generators("drop", self.drop.generators());
        for (i, block) in self.h.iter().enumerate() {
            generators.extend(prefix_generators(&format!("h.{i}"), block.generators()));
        }
        generators
    }
}
