//! [`GptConfig`]: the hyperparameters that fix a GPT's shapes.

use aigc_tensor::{Error, Result};
use serde::{Deserialize, Serialize};

/// The shape of a GPT, with GPT-2's names.
///
/// Stored as `config.json` in a model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Number of token ids (rows of the token embedding and columns of the logits).
    pub vocab_size: usize,
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Number of attention heads per block; must divide `n_embd`.
    pub n_head: usize,
    /// Width of the residual stream (embedding size).
    pub n_embd: usize,
    /// Longest sequence the model sees: the context length, in tokens.
    pub block_size: usize,
    /// Dropout probability in training, in [0, 1).
    pub dropout: f32,
    /// Whether linear layers and LayerNorms have biases.
    pub bias: bool,
}

/// The preset names [`GptConfig::preset`] accepts.
pub const PRESET_NAMES: &[&str] = &["tiny", "small"];

impl GptConfig {
    /// n_layer 4, n_head 4, n_embd 128, block_size 128, byte-level vocabulary (256):
    /// about 0.8 M parameters, trains in minutes on a laptop CPU.
    pub fn tiny() -> Self {
        GptConfig { vocab_size: 256, n_layer: 4, n_head: 4, n_embd: 128, block_size: 128, dropout: 0.0, bias: true }
    }

    /// n_layer 6, n_head 6, n_embd 384, block_size 256, byte-level vocabulary (256):
    /// about 10.7 M parameters.
    pub fn small() -> Self {
        GptConfig { vocab_size: 256, n_layer: 6, n_head: 6, n_embd: 384, block_size: 256, dropout: 0.0, bias: true }
    }

    /// The preset called `name` (`tiny` or `small`); the error lists the valid names.
    pub fn preset(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            _ => Err(Error::invalid(
                "GptConfig::preset",
                format!("unknown preset {name:?}; valid presets: {}", PRESET_NAMES.join(", ")),
            )),
        }
    }

    /// The same config with another vocabulary size (for a trained BPE tokenizer).
    pub fn with_vocab_size(mut self, vocab_size: usize) -> Self {
        self.vocab_size = vocab_size;
        self
    }

    /// The same config with another context length.
    pub fn with_block_size(mut self, block_size: usize) -> Self {
        self.block_size = block_size;
        self
    }

    /// The same config with another dropout probability.
    pub fn with_dropout(mut self, dropout: f32) -> Self {
        self.dropout = dropout;
        self
    }

    /// Size of one attention head: `n_embd / n_head`.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head.max(1)
    }

    /// Checks that the config describes a model that can be built.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::invalid("GptConfig", message));
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
            ("block_size", self.block_size),
        ] {
            if value == 0 {
                return fail(format!("{name} is 0; it must be at least 1"));
            }
        }
        if self.n_embd % self.n_head != 0 {
            return fail(format!(
                "n_embd {} is not divisible by n_head {}; choose n_embd as a multiple of n_head",
                self.n_embd, self.n_head
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return fail(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        if self.vocab_size > (1 << 24) {
            return fail(format!(
                "vocab_size {} exceeds 16 777 216, the largest id an f32 holds exactly",
                self.vocab_size
            ));
        }
        Ok(())
    }
}
