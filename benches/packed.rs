//! One-row products `x·Wᵀ` of token-by-token decoding: the packed f32 and
//! 8-bit kernels against the AVX2 GEMM kernel's vector path and the
//! naive references.
//!
//! Run with `cargo bench --bench packed` (add `-- --quick` for a short run).
//! Throughput is `Throughput::Elements(2·out·in)`, so criterion's "elem/s"
//! column reads as FLOP/s. One product reads every weight once: 4·out·in
//! bytes in f32 and 1.125·out·in in Q8 (one f32 scale per 32 weights), so
//! GB/s = FLOP/s × 2 (f32) or × 0.5625 (Q8) / 1e9. `q8` includes quantising
//! x, as decoding does. Every kernel runs on the calling thread.
//!
//! Each matrix is benchmarked alone, so its weights stay in the caches
//! when they fit. Decoding a whole model streams them from L3 or DRAM
//! instead (see `aigc bench --mode generate`).

use aigc_tensor::gemm::Avx2Kernel;
use aigc_tensor::packed::{naive_linear, naive_q8_linear, PackedMatrix, Q8Matrix, Q8Vector};
use aigc_tensor::{Rng, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Returns the linear layers of one block and the LM head of a preset, as (label, out, in).
fn shapes(n_embd: usize, vocab: usize) -> Vec<(String, usize, usize)> {
    vec![
        (format!("qkv_{}x{n_embd}", 3 * n_embd), 3 * n_embd, n_embd),
        (format!("attn_proj_{n_embd}x{n_embd}"), n_embd, n_embd),
        (format!("mlp_up_{}x{n_embd}", 4 * n_embd), 4 * n_embd, n_embd),
        (format!("mlp_down_{n_embd}x{}", 4 * n_embd), n_embd, 4 * n_embd),
        (format!("lm_head_{vocab}x{n_embd}"), vocab, n_embd),
    ]
}

fn bench_preset(c: &mut Criterion, group_name: &str, n_embd: usize, vocab: usize) {
    let mut group = c.benchmark_group(group_name);
    let mut rng = Rng::seed(0);
    for (label, outputs, inputs) in shapes(n_embd, vocab) {
        let weight = Tensor::randn(&[outputs, inputs], 0.0, 0.02, &mut rng);
        let weight_t = weight.t().expect("2-D");
        let x = Tensor::randn(&[1, inputs], 0.0, 1.0, &mut rng);
        let (weight_values, x_values) = (weight.to_vec(), x.to_vec());
        let packed = PackedMatrix::pack(&weight).expect("2-D");
        let quantized = Q8Matrix::quantize(&weight).expect("2-D");
        let mut x_q8 = Q8Vector::new();
        let mut y = vec![0.0f32; outputs];
        group.throughput(Throughput::Elements(2 * (outputs * inputs) as u64));

        group.bench_function(BenchmarkId::new("packed_f32", &label), |b| {
            b.iter(|| packed.linear(&x_values, 1, &mut y).expect("sizes fit"))
        });
        group.bench_function(BenchmarkId::new("q8", &label), |b| {
            b.iter(|| {
                x_q8.quantize(&x_values, 1, inputs).expect("sizes fit");
                quantized.linear(&x_q8, &mut y).expect("sizes fit")
            })
        });
        group.bench_function(BenchmarkId::new("avx2_gemm", &label), |b| {
            b.iter(|| x.matmul_with(&weight_t, &Avx2Kernel).expect("shapes fit"))
        });
        group.bench_function(BenchmarkId::new("naive_f32", &label), |b| {
            b.iter(|| naive_linear(&weight_values, outputs, inputs, &x_values, 1, &mut y).expect("sizes fit"))
        });
        group.bench_function(BenchmarkId::new("naive_q8", &label), |b| {
            b.iter(|| naive_q8_linear(&weight_values, outputs, inputs, &x_values, 1, &mut y).expect("sizes fit"))
        });
    }
    group.finish();
}

fn packed(c: &mut Criterion) {
    bench_preset(c, "decode_linear_tiny", 128, 256);
    bench_preset(c, "decode_linear_small", 384, 8192);
}

criterion_group!(benches, packed);
criterion_main!(benches);
