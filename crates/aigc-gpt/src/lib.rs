//! # aigc-gpt
//!
//! The GPT language model of aigc (GPT-2 architecture), also exported as
//! [`ChatGPT`].
//!
//! ```text
//! ids (B, T) → wte[ids] + wpe[0..T] → dropout
//!            → n_layer × Block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
//!            → ln_f → logits = x · wteᵀ   (B, T, vocab_size)
//! ```
//!
//! Parameter names follow GPT-2 (`wte.weight`, `h.0.attn.c_attn.weight`,
//! `ln_f.bias`, ...), with linear weights stored as (out, in) like PyTorch's
//! `nn.Linear`, so weights move between aigc and PyTorch by name.
//!
//! Generation samples one token at a time ([`SamplingConfig`]: greedy,
//! temperature, top-k, top-p, repetition penalty), reproducibly from a seed,
//! with a [`KvCache`] whose weights are exact f32 or, on request, 8-bit
//! ([`Quantization`]).
//! [`ChatSession`] holds a multi-turn conversation in the chat template of
//! `aigc-tokenizer` and streams each reply.
#![warn(missing_docs)]

mod chat;
mod config;
mod generate;
mod kv_cache;
mod model;
mod sample;

pub use chat::{ChatOptions, ChatPrompt, ChatReply, ChatSession, FinishReason, Turn};
pub use config::{GptConfig, PRESET_NAMES};
pub use kv_cache::{KvCache, Quantization};
pub use model::{Block, ChatGPT, Gpt, DEFAULT_SEED};
pub use sample::{argmax, sample_next, SamplingConfig};
