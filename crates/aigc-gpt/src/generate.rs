//! Autoregressive generation: the KV-cache path, and the recompute path it is checked against.

use aigc_autograd::{no_grad, Result, Tensor};
use aigc_tensor::{Error, Rng};

use crate::model::Gpt;
use crate::sample::{sample_next, SamplingConfig};

impl Gpt {
    fn check_prompt(&self, prompt: &[u32]) -> Result<()> {
        if prompt.is_empty() {
            return Err(Error::invalid("generate", "the prompt is empty; give at least one token"));
        }
        if let Some(&bad) = prompt.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            return Err(Error::invalid(
                "generate",
                format!("token id {bad} is outside the model's vocabulary of {} ids", self.config.vocab_size),
            ));
        }
        Ok(())
    }

    /// The logits of the next token after `context`, recomputing its last
    /// `block_size` tokens from scratch (no cache).
    pub fn next_token_logits(&self, context: &[u32]) -> Result<Vec<f32>> {
        self.check_prompt(context)?;
        let start = context.len().saturating_sub(self.config.block_size);
        let window = &context[start..];
        let ids = Tensor::from_vec(window.iter().map(|&id| id as f32).collect(), &[1, window.len()])?;
        let logits = no_grad(|| self.logits(&ids))?.value();
        let last = logits.narrow(1, window.len() - 1, 1)?.reshape(&[self.config.vocab_size])?;
        Ok(last.to_vec())
    }

    /// Generates up to `max_new_tokens` ids after `prompt` with the KV cache,
    /// stopping after any id in `stop_tokens` (included in the output).
    /// Returns only the new ids.
    pub fn generate(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        sampling: &SamplingConfig,
        stop_tokens: &[u32],
        rng: &mut Rng,
    ) -> Result<Vec<u32>> {
        self.generate_stream(prompt, max_new_tokens, sampling, stop_tokens, rng, |_| true)
    }

    /// [`Gpt::generate`], calling `on_token` with each new id as soon as it
    /// is sampled; generation stops early when `on_token` returns `false`.
    ///
    /// When the context fills `block_size`, the cache restarts from the most
    /// recent `block_size / 2` tokens (a context shift), so generation can go
    /// on past the context length; positions after a shift see only that
    /// recent half.
    pub fn generate_stream(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        sampling: &SamplingConfig,
        stop_tokens: &[u32],
        rng: &mut Rng,
        mut on_token: impl FnMut(u32) -> bool,
    ) -> Result<Vec<u32>> {
        sampling.validate()?;
        self.check_prompt(prompt)?;
        let block_size = self.config.block_size;
        let mut context = prompt.to_vec();
        let mut generated = Vec::with_capacity(max_new_tokens);
        if max_new_tokens == 0 {
            return Ok(generated);
        }

        let mut cache = self.new_kv_cache();
        let start = context.len().saturating_sub(block_size);
        let logits = self.forward_cached_last(&context[start..], &mut cache)?;
        let mut next = sample_next(logits, &context, sampling, rng)?;
        loop {
            context.push(next);
            generated.push(next);
            let keep_going = on_token(next);
            if !keep_going || stop_tokens.contains(&next) || generated.len() == max_new_tokens {
                break;
            }
            let logits = if cache.remaining() == 0 {
                cache.clear();
                let keep = (block_size / 2).max(1);
                let recent = &context[context.len() - keep..];
                self.forward_cached_last(recent, &mut cache)?
            } else {
                self.forward_cached_last(&[next], &mut cache)?
            };
            next = sample_next(logits, &context, sampling, rng)?;
        }
        Ok(generated)
    }

    /// [`Gpt::generate`] without the cache: every step recomputes the last
    /// `block_size` tokens. The reference for tests and benchmarks.
    pub fn generate_uncached(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        sampling: &SamplingConfig,
        stop_tokens: &[u32],
        rng: &mut Rng,
    ) -> Result<Vec<u32>> {
        sampling.validate()?;
        self.check_prompt(prompt)?;
        let mut context = prompt.to_vec();
        let mut generated = Vec::with_capacity(max_new_tokens);
        for _ in 0..max_new_tokens {
            let logits = self.next_token_logits(&context)?;
            let next = sample_next(&logits, &context, sampling, rng)?;
            context.push(next);
            generated.push(next);
            if stop_tokens.contains(&next) {
                break;
            }
        }
        Ok(generated)
    }
}
