//! # aigc
//!
//! A readable deep-learning framework for the CPU, with a GPT you can train
//! and chat with. This crate is the facade: it re-exports the layered crates
//! under Keras-like names.
//!
//! | module | crate | what it holds |
//! | --- | --- | --- |
//! | [`tensor`] | aigc-tensor | n-d f32 tensors, GEMM kernels, seeded RNG |
//! | [`autograd`] | aigc-autograd | `Var`, reverse-mode differentiation, gradcheck |
//! | [`layers`] | aigc-nn | `Dense`, `Embedding`, `LayerNorm`, attention, ... |
//! | [`losses`], [`metrics`] | aigc-nn | cross-entropy, MSE, accuracy, perplexity |
//! | [`optimizers`] | aigc-optim | SGD, Adam, AdamW, clipping, LR schedules |
//! | [`models`] | aigc-gpt, aigc-train | `ChatGPT`, `Sequential` with `compile`/`fit`/`evaluate`/`predict` |
//! | [`train`] | aigc-train | callbacks, checkpoints, datasets |
//! | [`tokenizer`] | aigc-tokenizer | byte-level BPE, chat template, conversation data |
#![warn(missing_docs)]

pub use aigc_autograd as autograd;
pub use aigc_gpt as gpt;
pub use aigc_nn as nn;
pub use aigc_optim as optim;
pub use aigc_tensor as tensor;
pub use aigc_tokenizer as tokenizer;
pub use aigc_train as train;

pub use aigc_autograd::{no_grad, Var};
pub use aigc_tensor::gemm::{matmul_precision, set_matmul_precision, MatmulPrecision};
pub use aigc_tensor::{Rng, Tensor};

/// Models with the Keras-style `compile` / `fit` / `evaluate` / `predict`.
pub mod models {
    /// The GPT chat model: `ChatGPT::new(GptConfig::tiny())`, then `compile` and `fit`.
    /// It dereferences to [`aigc_gpt::Gpt`] for generation and inspection.
    pub type ChatGPT = aigc_train::Model<aigc_gpt::Gpt>;
    /// A stack of layers: `Sequential::new().add(Dense::new(...)).add(ReLU)`.
    pub type Sequential = aigc_train::Model<aigc_nn::Sequential>;
    pub use aigc_gpt::{GptConfig, SamplingConfig};
}

/// Layers (aigc-nn).
pub mod layers {
    pub use aigc_nn::{
        CausalSelfAttention, Dense, Dropout, Embedding, Init, LayerNorm, Linear, Mlp, Module, Parameter, ReLU,
        Sigmoid, Softmax, Tanh, GELU,
    };
}

/// Loss functions; each takes logits (aigc-nn).
pub mod losses {
    pub use aigc_nn::{categorical_crossentropy, mse, sparse_categorical_crossentropy};
}

/// Metrics (aigc-nn).
pub mod metrics {
    pub use aigc_nn::{accuracy, perplexity, sparse_categorical_accuracy};
}

/// Optimizers, gradient clipping and learning-rate schedules (aigc-optim).
pub mod optimizers {
    pub use aigc_optim::*;
}
