//! One training step of the GPT presets: forward, cross-entropy, backward
//! and an AdamW update, the step that `aigc bench --mode train` times.
//!
//! Run with `cargo bench --bench train_step` (add `-- --quick` for a short
//! run). Throughput is `Throughput::Elements(tokens per step)`, so
//! criterion's "elem/s" column reads as training tokens/s.
//!
//! Matrix products, attention and element-wise loops split across the global
//! rayon pool, so set `RAYON_NUM_THREADS` to pin the thread count. For the
//! comparison with PyTorch use `tools/bench_compare.py`, which runs both
//! frameworks alternately (see docs/benchmarks.md).

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{Module, ParamKind};
use aigc_optim::{AdamW, Optimizer};
use aigc_tensor::{Rng, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Returns the presets of `aigc bench`: (label, config, batch size).
fn presets() -> [(&'static str, GptConfig, usize); 2] {
    let base = GptConfig { vocab_size: 0, n_layer: 0, n_head: 0, n_embd: 0, block_size: 0, dropout: 0.0, bias: true };
    [
        ("tiny", GptConfig { vocab_size: 256, n_layer: 4, n_head: 4, n_embd: 128, block_size: 128, ..base.clone() }, 16),
        ("small", GptConfig { vocab_size: 8192, n_layer: 6, n_head: 6, n_embd: 384, block_size: 256, ..base }, 8),
    ]
}

fn random_ids(shape: &[usize], vocab: usize, rng: &mut Rng) -> Tensor {
    let ids = (0..shape.iter().product()).map(|_| rng.below(vocab) as f32).collect();
    Tensor::from_vec(ids, shape).expect("ids fill the shape")
}

fn bench_train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10);
    for (label, config, batch) in presets() {
        let model = Gpt::with_seed(config.clone(), 1337).expect("valid config");
        let params = model.parameters();
        let mut optimizer = AdamW::new(1e-3, 0.1).betas(0.9, 0.95).decay_kinds(&[ParamKind::Weight]);
        let mut rng = Rng::seed(1337);
        let shape = [batch, config.block_size];
        let (ids, targets) = (random_ids(&shape, config.vocab_size, &mut rng), random_ids(&shape, config.vocab_size, &mut rng));
        group.throughput(Throughput::Elements((batch * config.block_size) as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                let (logits, loss) = model.forward_with_loss(&ids, &targets).expect("valid batch");
                model.zero_grad();
                loss.backward().expect("scalar loss");
                drop((logits, loss));
                optimizer.step(&params).expect("matching gradients");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_train_step);
criterion_main!(benches);
