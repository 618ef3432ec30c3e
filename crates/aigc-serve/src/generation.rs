//! The served model and one generation: prompt rendering, the token loop
//! with its stop conditions, and streaming decode.
//!
//! Generation is blocking CPU work. The server runs [`ChatModel::generate`]
//! on a blocking thread; it shares the weights and builds its own KV cache.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use aigc_gpt::{Gpt, Quantization, SamplingConfig};
use aigc_tensor::Rng;
use aigc_tokenizer::{ChatTemplate, Message, Tokenizer};
use aigc_train::checkpoint;

use crate::error::ApiError;
use crate::stop::StopScanner;

/// A chat model ready to serve: the network, its tokenizer and the name
/// the API reports for it.
pub struct ChatModel {
    id: String,
    gpt: Gpt,
    tokenizer: Tokenizer,
    /// Ids of every special token; any of them ends a reply.
    special_ids: Vec<u32>,
}

impl std::fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatModel").field("id", &self.id).field("config", &self.gpt.config).finish()
    }
}

impl ChatModel {
    /// Wraps a model and its tokenizer under the name `id`.
    ///
    /// Fails when the tokenizer's vocabulary size differs from the model's.
    pub fn new(id: impl Into<String>, gpt: Gpt, tokenizer: Tokenizer) -> aigc_tensor::Result<ChatModel> {
        if tokenizer.vocab_size() != gpt.config.vocab_size {
            return Err(aigc_tensor::Error::invalid(
                "serve",
                format!(
                    "the tokenizer has {} tokens but the model's vocab_size is {}; use the tokenizer the model was trained with",
                    tokenizer.vocab_size(),
                    gpt.config.vocab_size
                ),
            ));
        }
        let special_ids = (0..tokenizer.vocab_size() as u32).filter(|&id| tokenizer.is_special(id)).collect();
        Ok(ChatModel { id: id.into(), gpt, tokenizer, special_ids })
    }

    /// Loads a model directory (`config.json`, `model.safetensors`,
    /// `tokenizer.json`), named after the directory.
    ///
    /// Fails for a byte-level model without `tokenizer.json`: it never
    /// learnt the chat template.
    pub fn load(dir: &Path) -> aigc_tensor::Result<ChatModel> {
        let (gpt, config, _state) =
            checkpoint::load_gpt(dir).map_err(|error| aigc_tensor::Error::invalid("serve", error.to_string()))?;
        let tokenizer = checkpoint::load_tokenizer(dir, &config)
            .map_err(|error| aigc_tensor::Error::invalid("serve", error.to_string()))?
            .ok_or_else(|| {
                aigc_tensor::Error::invalid(
                    "serve",
                    format!(
                        "{} holds a byte-level model without tokenizer.json; serving needs a chat model with its BPE tokenizer, \
                         such as one written by `aigc sft` or `aigc demo`",
                        dir.display()
                    ),
                )
            })?;
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let id = canonical.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| "aigc".into());
        ChatModel::new(id, gpt, tokenizer)
    }

    /// The model name reported by the API.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The network.
    pub fn gpt(&self) -> &Gpt {
        &self.gpt
    }

    /// Sets the weight format every request decodes with: exact f32, or
    /// faster 8-bit weights (see [`Gpt::set_quantization`]).
    pub fn set_quantization(&mut self, quantization: Quantization) {
        self.gpt.set_quantization(quantization);
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Renders `messages` as a prompt that ends with `<|assistant|>`.
    ///
    /// Fails with a 400 naming `messages` when the prompt leaves no room for
    /// a reply in the model's context.
    pub fn render_prompt(&self, messages: &[Message]) -> Result<Vec<u32>, ApiError> {
        let ids = ChatTemplate::new(&self.tokenizer)
            .render_prompt(messages)
            .map_err(|error| ApiError::internal(format!("could not encode the messages: {error}")))?;
        let block_size = self.gpt.config.block_size;
        if ids.len() >= block_size {
            return Err(ApiError::invalid(
                "messages",
                "context_length_exceeded",
                format!(
                    "the messages are {} tokens with the chat template, but the model's context is {block_size} tokens \
                     and at least 1 must stay free for the reply; send fewer or shorter messages",
                    ids.len()
                ),
            ));
        }
        Ok(ids)
    }

    /// Generates a reply to `prompt`, passing each piece of text to
    /// `on_text` as soon as it is whole UTF-8 and cannot be part of a stop
    /// string.
    ///
    /// Stops at a special token (such as `<|end|>`), a stop string,
    /// `max_tokens`, a full context, when `on_text` returns `false` or
    /// `control` is cancelled (both [`Finish::Cancelled`]), or at the
    /// deadline.
    pub fn generate(
        &self,
        prompt: &[u32],
        options: &GenerationOptions,
        control: &Control<'_>,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> aigc_tensor::Result<Generation> {
        let room = self.gpt.config.block_size.saturating_sub(prompt.len());
        let max_new = options.max_tokens.min(room);
        let mut rng = Rng::seed(options.seed);
        let mut decoder = self.tokenizer.stream_decoder();
        let mut scanner = StopScanner::new(options.stop.clone());
        let mut finish = None;
        let mut decode_error = None;
        let mut scanner_stopped = false;

        let generated = self.gpt.generate_stream(prompt, max_new, &options.sampling, &self.special_ids, &mut rng, |id| {
            if control.cancelled.load(Ordering::Relaxed) {
                finish = Some(Finish::Cancelled);
                return false;
            }
            if Instant::now() >= control.deadline {
                finish = Some(Finish::TimedOut);
                return false;
            }
            if self.special_ids.contains(&id) {
                finish = Some(Finish::Stop);
                return false;
            }
            let piece = match decoder.push(id) {
                Ok(piece) => piece,
                Err(error) => {
                    decode_error = Some(error);
                    return false;
                }
            };
            let scanned = scanner.push(&piece);
            if !scanned.text.is_empty() && !on_text(&scanned.text) {
                finish = Some(Finish::Cancelled);
                return false;
            }
            if scanned.stopped {
                finish = Some(Finish::Stop);
                scanner_stopped = true;
                return false;
            }
            if !control.token_delay.is_zero() {
                std::thread::sleep(control.token_delay);
            }
            true
        })?;
        if let Some(error) = decode_error {
            return Err(aigc_tensor::Error::invalid("serve", format!("could not decode a generated token: {error}")));
        }

        let finish = match finish {
            Some(Finish::Cancelled) => Finish::Cancelled,
            Some(Finish::TimedOut) => Finish::TimedOut,
            // A stop string cut the text, and nothing after it is sent.
            Some(Finish::Stop) if scanner_stopped => Finish::Stop,
            ended => {
                // The model ended its turn or ran out of tokens: pass on the
                // held text, with a character cut off at the end as U+FFFD.
                let rest = scanner.push(&decoder.finish());
                let tail = if rest.stopped { rest.text } else { rest.text + &scanner.finish() };
                if !tail.is_empty() {
                    on_text(&tail);
                }
                match ended {
                    _ if rest.stopped => Finish::Stop,
                    Some(finish) => finish,
                    None => Finish::Length,
                }
            }
        };
        Ok(Generation { completion_tokens: generated.len(), finish })
    }
}

/// How one reply is generated.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOptions {
    /// How each token is picked.
    pub sampling: SamplingConfig,
    /// Most tokens to generate; fewer when the context fills first.
    pub max_tokens: usize,
    /// Strings that end the reply; none may be empty.
    pub stop: Vec<String>,
    /// Seed of the sampler.
    pub seed: u64,
}

/// What a running generation watches besides the model.
#[derive(Debug, Clone, Copy)]
pub struct Control<'a> {
    /// Set when the client has gone; the loop stops at the next token.
    pub cancelled: &'a AtomicBool,
    /// The loop stops at the first token after this instant.
    pub deadline: Instant,
    /// Pause after each token (see `ServeConfig::token_delay`).
    pub token_delay: std::time::Duration,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its turn, or a stop string appeared.
    Stop,
    /// `max_tokens` were written, or the context is full.
    Length,
    /// The client went away.
    Cancelled,
    /// The per-request time limit passed.
    TimedOut,
}

impl Finish {
    /// The OpenAI `finish_reason` for a reply that ended normally.
    pub fn reason(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Cancelled => "cancelled",
            Finish::TimedOut => "timeout",
        }
    }
}

/// The result of [`ChatModel::generate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// Tokens generated, a closing special token included.
    pub completion_tokens: usize,
    /// Why generation ended.
    pub finish: Finish,
}
