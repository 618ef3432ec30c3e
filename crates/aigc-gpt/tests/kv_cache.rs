//! The KV cache against the full forward pass. Logits must agree at every
//! position for a whole-prompt prefill, token-by-token decoding and mixed
//! chunk sizes. A chunk that overflows the cache is rejected, and cached
//! generation must match `generate_uncached`.
//!
//! The weights are redrawn with a large spread (std 0.5) so that logits
//! differ by whole units between tokens: with GPT-2's initialisation
//! (std 0.02) every row is nearly uniform and a greedy comparison would
//! hinge on rounding.

use aigc_gpt::{Gpt, GptConfig, SamplingConfig};
use aigc_nn::Module;
use aigc_tensor::{Rng, Tensor};

/// Largest allowed difference between cached and full-pass logits.
const TOLERANCE: f32 = 1e-5;

fn config(block_size: usize) -> GptConfig {
    GptConfig { vocab_size: 61, n_layer: 2, n_head: 4, n_embd: 32, block_size, dropout: 0.0, bias: true }
}

/// Builds a model whose every parameter is drawn from N(0, 0.5²), from `seed`.
fn spread_model(config: GptConfig, seed: u64) -> Gpt {
    let model = Gpt::new(config).unwrap();
    let mut rng = Rng::seed(seed);
    for param in model.parameters() {
        let shape = param.var.shape();
        let values = (0..shape.iter().product::<usize>()).map(|_| 0.5 * rng.normal()).collect();
        param.var.set_value(Tensor::from_vec(values, &shape).unwrap()).unwrap();
    }
    model
}

fn random_ids(len: usize, vocab_size: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::seed(seed);
    (0..len).map(|_| rng.below(vocab_size) as u32).collect()
}

/// Logits of the full forward pass over `ids`: (T, V).
fn full_logits(model: &Gpt, ids: &[u32]) -> Tensor {
    let input = Tensor::from_vec(ids.iter().map(|&id| id as f32).collect(), &[1, ids.len()]).unwrap();
    let logits = aigc_autograd::no_grad(|| model.logits(&input)).unwrap().value();
    logits.reshape(&[ids.len(), model.config.vocab_size]).unwrap()
}

/// Feeds `ids` to a fresh cache in chunks of the given sizes and stacks the
/// returned logits: (T, V).
fn chunked_logits(model: &Gpt, ids: &[u32], chunk_sizes: &[usize]) -> Tensor {
    assert_eq!(chunk_sizes.iter().sum::<usize>(), ids.len(), "the chunks must cover the ids");
    let mut cache = model.new_kv_cache();
    let mut rows = Vec::new();
    let mut start = 0;
    for &size in chunk_sizes {
        let logits = model.forward_cached(&ids[start..start + size], &mut cache).unwrap();
        assert_eq!(logits.shape(), &[size, model.config.vocab_size]);
        start += size;
        assert_eq!(cache.len(), start, "cache length after {start} tokens");
        rows.push(logits);
    }
    Tensor::concat(&rows.iter().collect::<Vec<_>>(), 0).unwrap()
}

/// Asserts that two (T, V) logits agree at every position, naming the first
/// position that does not.
fn assert_same_logits(cached: &Tensor, full: &Tensor, case: &str) {
    assert_eq!(cached.shape(), full.shape(), "{case}: shapes differ");
    let positions = full.shape()[0];
    for t in 0..positions {
        let diff = cached.narrow(0, t, 1).unwrap().max_abs_diff(&full.narrow(0, t, 1).unwrap());
        assert!(diff <= TOLERANCE, "{case}: position {t} of {positions} differs by {diff:e} (tolerance {TOLERANCE:e})");
    }
}

#[test]
fn prefill_matches_full_pass() {
    let model = spread_model(config(24), 1);
    let ids = random_ids(24, 61, 2);
    let full = full_logits(&model, &ids);
    assert!(full.to_vec().iter().any(|v| v.abs() > 1.0), "the logits should be spread for a meaningful check");
    assert_same_logits(&chunked_logits(&model, &ids, &[24]), &full, "prefill of 24 tokens");
}

#[test]
fn token_by_token_decode_matches_full_pass() {
    let model = spread_model(config(24), 3);
    let ids = random_ids(24, 61, 4);
    let ones = vec![1; 24];
    assert_same_logits(&chunked_logits(&model, &ids, &ones), &full_logits(&model, &ids), "one token at a time");
}

#[test]
fn mixed_chunks_match_full_pass() {
    let model = spread_model(config(24), 5);
    let ids = random_ids(24, 61, 6);
    let full = full_logits(&model, &ids);
    for chunks in [&[3, 1, 5, 2, 1, 4, 8][..], &[1, 23], &[23, 1], &[12, 12], &[7, 7, 7, 3]] {
        assert_same_logits(&chunked_logits(&model, &ids, chunks), &full, &format!("chunks {chunks:?}"));
    }
}

#[test]
fn shorter_sequence_matches_its_own_pass() {
    // A prompt shorter than block_size: positions beyond it are never read.
    let model = spread_model(config(24), 7);
    let ids = random_ids(9, 61, 8);
    assert_same_logits(&chunked_logits(&model, &ids, &[4, 1, 1, 3]), &full_logits(&model, &ids), "9 of 24 positions");
}

#[test]
fn overflow_is_rejected_and_cache_kept() {
    let model = spread_model(config(16), 9);
    let ids = random_ids(16, 61, 10);
    let mut cache = model.new_kv_cache();
    assert_eq!(cache.capacity(), 16);
    model.forward_cached(&ids[..14], &mut cache).unwrap();
    assert_eq!(cache.remaining(), 2);

    let error = model.forward_cached(&ids[..3], &mut cache).unwrap_err().to_string();
    assert!(error.contains("forward_cached"), "the error names the op: {error}");
    assert!(error.contains("3 new tokens do not fit"), "the error says how many tokens: {error}");
    assert!(error.contains("block_size 16"), "the error names the limit: {error}");
    assert_eq!(cache.len(), 14, "a rejected call leaves the cache as it was");

    // The cache still works: the last two positions equal the full pass.
    let tail = model.forward_cached(&ids[14..], &mut cache).unwrap();
    let full = full_logits(&model, &ids);
    assert_same_logits(&tail, &full.narrow(0, 14, 2).unwrap(), "after a rejected call");
    assert_eq!(cache.remaining(), 0);
    assert!(model.forward_cached(&ids[..1], &mut cache).is_err(), "a full cache takes no token");
    assert_eq!(cache.len(), 16);
}

#[test]
fn empty_chunk_is_rejected() {
    let model = spread_model(config(8), 11);
    let mut cache = model.new_kv_cache();
    let error = model.forward_cached(&[], &mut cache).unwrap_err().to_string();
    assert!(error.contains("no token ids"), "{error}");
    assert!(cache.is_empty());
}

#[test]
fn cleared_cache_starts_over() {
    let model = spread_model(config(16), 12);
    let ids = random_ids(10, 61, 13);
    let mut cache = model.new_kv_cache();
    model.forward_cached(&random_ids(16, 61, 14), &mut cache).unwrap();
    cache.clear();
    assert!(cache.is_empty());
    let logits = model.forward_cached(&ids, &mut cache).unwrap();
    assert_same_logits(&logits, &full_logits(&model, &ids), "after clear");
}

#[test]
fn greedy_cached_equals_uncached() {
    let block_size = 32;
    let model = spread_model(config(block_size), 15);
    let greedy = SamplingConfig::greedy();
    for prompt_len in [1, 5, 31] {
        let prompt = random_ids(prompt_len, 61, 16 + prompt_len as u64);
        // Every token up to and including the one predicted from a full
        // context of block_size tokens. After that the cached path shifts
        // its context and the uncached one slides, so they may part.
        let new_tokens = block_size - prompt_len + 1;
        let cached = model.generate(&prompt, new_tokens, &greedy, &[], &mut Rng::seed(0)).unwrap();
        let uncached = model.generate_uncached(&prompt, new_tokens, &greedy, &[], &mut Rng::seed(0)).unwrap();
        assert_eq!(cached.len(), new_tokens);
        assert_eq!(cached, uncached, "prompt of {prompt_len} tokens");
    }
}

#[test]
fn generation_continues_past_context() {
    let model = spread_model(config(16), 17);
    let prompt = random_ids(4, 61, 18);
    let generated = model.generate(&prompt, 40, &SamplingConfig::greedy(), &[], &mut Rng::seed(0)).unwrap();
    assert_eq!(generated.len(), 40, "the context shift lets generation run past block_size");
}

#[test]
fn stop_token_ends_both_paths_alike() {
    let model = spread_model(config(32), 19);
    let prompt = random_ids(3, 61, 20);
    let greedy = SamplingConfig::greedy();
    let free_run = model.generate(&prompt, 20, &greedy, &[], &mut Rng::seed(0)).unwrap();
    let stop = free_run[5];
    let first_stop = free_run.iter().position(|&id| id == stop).unwrap();

    let cached = model.generate(&prompt, 20, &greedy, &[stop], &mut Rng::seed(0)).unwrap();
    let uncached = model.generate_uncached(&prompt, 20, &greedy, &[stop], &mut Rng::seed(0)).unwrap();
    assert_eq!(cached, free_run[..=first_stop].to_vec(), "output ends with the stop token");
    assert_eq!(cached, uncached);
}

#[test]
fn sampled_cached_equals_uncached() {
    // Same seed, same logits: sampling draws the same tokens on both paths.
    let model = spread_model(config(32), 21);
    let prompt = random_ids(6, 61, 22);
    let sampling = SamplingConfig { temperature: 0.9, top_k: Some(20), top_p: Some(0.95), repetition_penalty: 1.1 };
    let cached = model.generate(&prompt, 20, &sampling, &[], &mut Rng::seed(7)).unwrap();
    let uncached = model.generate_uncached(&prompt, 20, &sampling, &[], &mut Rng::seed(7)).unwrap();
    assert_eq!(cached, uncached);
}
