//! Optimizer step and gradient clipping throughput.
//!
//! Run with `cargo bench -p aigc-optim --bench step` (add `-- --quick` for a
//! short run). Throughput is `Throughput::Elements(numel)`, so criterion's
//! "elem/s" column reads as parameters updated (or, for clipping, gradient
//! elements visited) per second.
//!
//! Tensors from `aigc_tensor::parallel::PARALLEL_THRESHOLD` (65 536)
//! elements up are split across the global rayon pool, so those numbers
//! depend on the core count (set `RAYON_NUM_THREADS` to pin it).

use aigc_autograd::{Tensor, Var};
use aigc_nn::{ParamKind, Parameter};
use aigc_optim::{clip_grad_norm, Adam, AdamW, Optimizer, Sgd};
use aigc_tensor::Rng;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Parameter shapes: an odd size below the parallel threshold, the MLP
/// weight of the GPT `tiny` preset (n_embd 128) at the threshold, and the
/// MLP weight of GPT-2 small (n_embd 768).
const SHAPES: [(&str, [usize; 2]); 3] =
    [("odd_127x129", [127, 129]), ("c_fc_128x512", [128, 512]), ("c_fc_768x3072", [768, 3072])];

fn parameter_with_grad(shape: &[usize], rng: &mut Rng) -> Parameter {
    let var = Var::parameter(Tensor::randn(shape, 0.0, 0.02, rng));
    var.set_grad(Some(Tensor::randn(shape, 0.0, 1.0, rng)));
    Parameter::new("weight", var, ParamKind::Weight)
}

fn bench_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("optimizer_step");
    let mut rng = Rng::seed(0);
    for (label, shape) in SHAPES {
        let params = vec![parameter_with_grad(&shape, &mut rng)];
        group.throughput(Throughput::Elements(shape.iter().product::<usize>() as u64));
        let optimizers: [(&str, Box<dyn Optimizer>); 3] = [
            ("sgd_momentum", Box::new(Sgd::new(1e-3).momentum(0.9))),
            ("adam", Box::new(Adam::new(1e-3))),
            ("adamw", Box::new(AdamW::new(1e-3, 0.1))),
        ];
        for (name, mut optimizer) in optimizers {
            group.bench_function(BenchmarkId::new(name, label), |b| b.iter(|| optimizer.step(&params).unwrap()));
        }
    }
    group.finish();
}

fn bench_clip(c: &mut Criterion) {
    let mut group = c.benchmark_group("clip_grad_norm");
    let mut rng = Rng::seed(1);
    for (label, shape) in SHAPES {
        let params = vec![parameter_with_grad(&shape, &mut rng)];
        group.throughput(Throughput::Elements(shape.iter().product::<usize>() as u64));
        // An infinite max_norm measures the norm without rescaling, so every
        // iteration does the same work.
        group.bench_function(BenchmarkId::new("norm", label), |b| {
            b.iter(|| clip_grad_norm(&params, f32::INFINITY).unwrap())
        });
        group.bench_function(BenchmarkId::new("norm_and_scale", label), |b| {
            b.iter(|| clip_grad_norm(&params, 1e-3).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_steps, bench_clip);
criterion_main!(benches);
