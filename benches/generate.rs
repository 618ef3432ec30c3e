//! Generation speed with and without the KV cache.
//!
//! Run with `cargo bench --bench generate` (add `-- --quick` for a short
//! run). Each iteration greedily generates 256 new tokens after a 16-token
//! prompt, batch 1. The model is the tiny preset (n_layer 4, n_head 4,
//! n_embd 128, byte-level vocabulary) widened to block_size 272, so the
//! whole run fits in the context and neither path shifts or crops it.
//! `Throughput::Elements(256)`: criterion's "elem/s" column reads as new
//! tokens per second.
//!
//! `kv_cache` prefills the prompt once and then runs one position per token
//! against the cache, with exact f32 weights. `kv_cache_q8` does the same
//! with 8-bit weights (`Quantization::Q8`). `uncached` recomputes the whole
//! context at every step, so its cost per token grows with the context
//! length. The numbers of `uncached` depend on the core count: set
//! `RAYON_NUM_THREADS` to pin it.

use aigc_gpt::{Gpt, GptConfig, Quantization, SamplingConfig};
use aigc_tensor::Rng;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PROMPT_LEN: usize = 16;
const NEW_TOKENS: usize = 256;

fn generation(c: &mut Criterion) {
    let config = GptConfig::tiny().with_block_size(PROMPT_LEN + NEW_TOKENS);
    let model = Gpt::new(config.clone()).expect("the tiny preset is valid");
    let mut rng = Rng::seed(0);
    let prompt: Vec<u32> = (0..PROMPT_LEN).map(|_| rng.below(config.vocab_size) as u32).collect();
    let greedy = SamplingConfig::greedy();

    let mut group = c.benchmark_group("generate_tiny_256_tokens");
    group.throughput(Throughput::Elements(NEW_TOKENS as u64));
    group.sample_size(10);
    group.bench_function("kv_cache", |b| {
        b.iter(|| {
            let tokens = model.generate(&prompt, NEW_TOKENS, &greedy, &[], &mut Rng::seed(0)).expect("generate");
            assert_eq!(tokens.len(), NEW_TOKENS);
            tokens
        })
    });
    let mut quantized = Gpt::new(config.clone()).expect("the tiny preset is valid");
    quantized.set_quantization(Quantization::Q8);
    group.bench_function("kv_cache_q8", |b| {
        b.iter(|| {
            let tokens = quantized.generate(&prompt, NEW_TOKENS, &greedy, &[], &mut Rng::seed(0)).expect("generate");
            assert_eq!(tokens.len(), NEW_TOKENS);
            tokens
        })
    });
    group.bench_function("uncached", |b| {
        b.iter(|| {
            let tokens =
                model.generate_uncached(&prompt, NEW_TOKENS, &greedy, &[], &mut Rng::seed(0)).expect("generate_uncached");
            assert_eq!(tokens.len(), NEW_TOKENS);
            tokens
        })
    });
    group.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);
