//! Choosing the next token from logits: greedy, temperature, top-k, top-p,
//! repetition penalty, all reproducible from a seed.

use aigc_tensor::{Error, Result, Rng};
use serde::{Deserialize, Serialize};

/// How to pick each next token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// Softmax temperature; 0 means greedy (always the most likely token).
    pub temperature: f32,
    /// Keep only the `k` most likely tokens before sampling.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p` (nucleus sampling).
    pub top_p: Option<f32>,
    /// Divide positive logits (multiply negative ones) of tokens already
    /// generated or in the prompt by this factor; 1 disables it.
    pub repetition_penalty: f32,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig { temperature: 0.8, top_k: Some(200), top_p: None, repetition_penalty: 1.0 }
    }
}

impl SamplingConfig {
    /// Greedy decoding: the most likely token every time.
    pub fn greedy() -> Self {
        SamplingConfig { temperature: 0.0, top_k: None, top_p: None, repetition_penalty: 1.0 }
    }

    /// Checks every field, naming the bad value and the valid range.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::invalid("sampling", message));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return fail(format!("temperature {} must be a finite number ≥ 0 (0 = greedy)", self.temperature));
        }
        if self.top_k == Some(0) {
            return fail("top_k 0 keeps no token; use at least 1, or no top_k".to_string());
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return fail(format!("top_p {p} must be in (0, 1]"));
            }
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return fail(format!("repetition_penalty {} must be a finite number > 0 (1 = off)", self.repetition_penalty));
        }
        Ok(())
    }
}

/// Picks the next token id from one row of logits.
///
/// `history` holds the ids already in the context, for the repetition penalty.
pub fn sample_next(logits: &[f32], history: &[u32], config: &SamplingConfig, rng: &mut Rng) -> Result<u32> {
    if logits.is_empty() {
        return Err(Error::invalid("sampling", "cannot sample from an empty row of logits"));
    }
    if config.temperature == 0.0 && config.repetition_penalty == 1.0 {
        return Ok(argmax(logits) as u32); // greedy on the logits as they are: no copy
    }
    let mut logits = logits.to_vec();
    if config.repetition_penalty != 1.0 {
        for &id in history {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l > 0.0 { *l / config.repetition_penalty } else { *l * config.repetition_penalty };
            }
        }
    }
    if config.temperature == 0.0 {
        return Ok(argmax(&logits) as u32);
    }

    // Candidates sorted by logit, most likely first.
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if let Some(k) = config.top_k {
        order.truncate(k.min(order.len()));
    }
    let max = logits[order[0]];
    let mut probs: Vec<f32> = order.iter().map(|&i| ((logits[i] - max) / config.temperature).exp()).collect();
    let total: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(top_p) = config.top_p {
        let mut cumulative = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            cumulative += p;
            if cumulative >= top_p {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep);
        order.truncate(keep);
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
    }

    let draw = rng.uniform();
    let mut cumulative = 0.0;
    for (i, p) in probs.iter().enumerate() {
        cumulative += p;
        if draw < cumulative {
            return Ok(order[i] as u32);
        }
    }
    Ok(*order.last().expect("at least one candidate") as u32)
}

/// Index of the largest value; the first one wins ties. NaN never wins
/// (all NaN, or an empty slice, gives 0).
pub fn argmax(values: &[f32]) -> usize {
    // Two passes in chunks the compiler vectorises: the maximum (exact, so
    // 16 running maxima give the same value), then the first chunk holding it.
    const CHUNK: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; CHUNK];
    for chunk in values.chunks(CHUNK) {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(v);
        }
    }
    let max = lanes.iter().fold(f32::NEG_INFINITY, |max, &v| max.max(v));
    for (c, chunk) in values.chunks(CHUNK).enumerate() {
        if chunk.iter().fold(false, |found, &v| found | (v == max)) {
            return c * CHUNK + chunk.iter().position(|&v| v == max).unwrap_or(0);
        }
    }
    0
}
