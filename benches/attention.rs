//! Causal self-attention kernels at the shapes of the GPT presets.
//!
//! Run with `cargo bench --bench attention` (add `-- --quick` for a short
//! run). Each case times [`NaiveAttention`] and [`FusedAttention`] on the
//! `(B, T, 3C)` projection through `attend_packed`, forward alone and
//! forward plus backward, and a KV-cache step (one query against a full
//! context) through `fused_attention_forward`.
//!
//! Throughput is `Throughput::Elements` of the causal multiply-adds × 2, so
//! criterion's "elem/s" column reads as FLOP/s: the forward pass does
//! 2·D multiply-adds for each visible (query, key) pair (scores and the
//! weighted sum), the backward pass 5·D more. Masked pairs are not counted,
//! although the naive kernel computes them.
//!
//! The kernels split batch elements across the global rayon pool, so set
//! `RAYON_NUM_THREADS` to pin the thread count.

use aigc_autograd::{no_grad, Var};
use aigc_nn::{
    fused_attention_forward, AttentionDims, AttentionKernel, Dropout, FusedAttention, HeadLayout, KeysTransposed,
    NaiveAttention, KEY_BLOCK,
};
use aigc_tensor::{Rng, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// One training-shaped attention call: B sequences of T positions, H heads of D.
struct Case {
    label: &'static str,
    batch: usize,
    time: usize,
    heads: usize,
    head_size: usize,
}

impl Case {
    /// Returns the number of (query, key) pairs a causal mask leaves visible.
    fn visible_pairs(&self) -> usize {
        self.batch * self.heads * self.time * (self.time + 1) / 2
    }
}

/// `tiny` (n_embd 128, 4 heads, batch 16 × 128) and `small` (n_embd 384,
/// 6 heads, batch 8 × 256), as in `aigc bench`.
const CASES: [Case; 2] = [
    Case { label: "tiny_b16_t128_h4_d32", batch: 16, time: 128, heads: 4, head_size: 32 },
    Case { label: "small_b8_t256_h6_d64", batch: 8, time: 256, heads: 6, head_size: 64 },
];

fn kernels() -> [(&'static str, Box<dyn AttentionKernel>); 2] {
    [("naive", Box::new(NaiveAttention)), ("fused", Box::new(FusedAttention))]
}

fn bench_forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention_forward");
    let inactive = Dropout::new(0.0, 0).expect("valid probability");
    for case in &CASES {
        let channels = case.heads * case.head_size;
        let qkv = Var::new(Tensor::randn(&[case.batch, case.time, 3 * channels], 0.0, 1.0, &mut Rng::seed(0)));
        group.throughput(Throughput::Elements((2 * 2 * case.visible_pairs() * case.head_size) as u64));
        for (name, kernel) in kernels() {
            group.bench_with_input(BenchmarkId::new(name, case.label), &qkv, |b, qkv| {
                b.iter(|| no_grad(|| kernel.attend_packed(qkv, case.heads, true, &inactive).expect("valid shapes")))
            });
        }
    }
    group.finish();
}

fn bench_forward_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention_forward_backward");
    group.sample_size(20);
    let inactive = Dropout::new(0.0, 0).expect("valid probability");
    for case in &CASES {
        let channels = case.heads * case.head_size;
        let mut rng = Rng::seed(1);
        let qkv = Var::parameter(Tensor::randn(&[case.batch, case.time, 3 * channels], 0.0, 1.0, &mut rng));
        let output_grad = Tensor::randn(&[case.batch, case.time, channels], 0.0, 1.0, &mut rng);
        group.throughput(Throughput::Elements((2 * 7 * case.visible_pairs() * case.head_size) as u64));
        for (name, kernel) in kernels() {
            group.bench_with_input(BenchmarkId::new(name, case.label), &qkv, |b, qkv| {
                b.iter(|| {
                    let y = kernel.attend_packed(qkv, case.heads, true, &inactive).expect("valid shapes");
                    y.backward_with(output_grad.clone()).expect("matching gradient shape");
                    qkv.zero_grad();
                })
            });
        }
    }
    group.finish();
}

/// Times one generated token: a single query against `keys` cached
/// positions, with the keys stored transposed as the KV cache keeps them.
fn bench_decode_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention_decode_step");
    for (label, heads, head_size, keys) in [("tiny_h4_d32_272", 4, 32, 272), ("small_h6_d64_272", 6, 64, 272usize)] {
        let mut rng = Rng::seed(2);
        let stride = keys.div_ceil(KEY_BLOCK) * KEY_BLOCK;
        let q = Tensor::randn(&[heads * head_size], 0.0, 1.0, &mut rng);
        let keys_t = Tensor::randn(&[heads * head_size * stride], 0.0, 1.0, &mut rng);
        let values = Tensor::randn(&[heads * keys * head_size], 0.0, 1.0, &mut rng);
        let mut y = vec![0.0f32; heads * head_size];
        let dims = AttentionDims { batch: 1, heads, queries: 1, keys, head_size };
        group.throughput(Throughput::Elements((2 * 2 * heads * keys * head_size) as u64));
        group.bench_function(BenchmarkId::new("fused", label), |b| {
            b.iter(|| {
                fused_attention_forward(
                    (q.as_slice().expect("contiguous"), HeadLayout::heads_first(1, head_size)),
                    (keys_t.as_slice().expect("contiguous"), KeysTransposed { head_stride: head_size * stride, row_stride: stride }),
                    (values.as_slice().expect("contiguous"), HeadLayout::heads_first(keys, head_size)),
                    (&mut y, HeadLayout::heads_first(1, head_size)),
                    dims,
                    true,
                )
                .expect("valid layouts")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_forward, bench_forward_backward, bench_decode_step);
criterion_main!(benches);
