//! GEMM throughput of each kernel through `Tensor::matmul_with`.
//!
//! Run with `cargo bench --bench gemm` (add `-- --quick` for a short run, or
//! a filter such as `-- gemm_gpt_small`). Throughput is
//! `Throughput::Elements(2·batch·m·n·k)`: one element is one floating-point
//! operation (a multiply or an add), so criterion's "elem/s" column reads as
//! FLOP/s.
//!
//! `matmul_with` splits large products across the global rayon pool, so the
//! numbers depend on the core count: set `RAYON_NUM_THREADS=1` or `2` to pin
//! it. The bf16 kernel runs only on CPUs with AVX-512 BF16 (elsewhere it
//! would time the f32 fallback under another name). The naive kernel runs
//! only on products of at most 256 × 256 × 256: it is the slow reference,
//! and the larger shapes would take seconds per iteration. Products above
//! 2³⁰ multiply-adds take 10 samples instead of criterion's 100.
//!
//! The group `fma_peak` measures the ceiling: chains of AVX2 FMAs from
//! registers on every thread of the pool, with no memory traffic. A GEMM's
//! fraction of the peak is its FLOP/s over that group's, from the same run.
//! Where the CPU has AVX-512 BF16 the group also times chains of
//! `vdpbf16ps`, the bf16 kernel's ceiling.

use aigc_tensor::gemm::{Avx2Kernel, Bf16Kernel, GemmKernel, MatrixMultiplyKernel, NaiveKernel};
use aigc_tensor::{Rng, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Largest multiply-add count (256³) the naive kernel is benchmarked at.
const NAIVE_MAX_MULTIPLY_ADDS: usize = 256 * 256 * 256;

/// Multiply-add count above which a product is sampled 10 times, not 100.
const FEW_SAMPLES_MULTIPLY_ADDS: usize = 1 << 30;

/// A product `(batch, m, k) · (batch, k, n)`; a batch of 1 is a plain 2-D product.
struct Case {
    label: String,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    /// Whether the left operand is the transposed view of a (k, m) tensor.
    a_transposed: bool,
    /// Whether the right operand is the transposed view of an (n, k) tensor.
    b_transposed: bool,
}

impl Case {
    fn new(label: impl Into<String>, batch: usize, m: usize, k: usize, n: usize, b_transposed: bool) -> Case {
        Case { label: label.into(), batch, m, k, n, a_transposed: false, b_transposed }
    }

    /// Describes the product `Aᵀ · B` with A stored as (k, m), as in a weight gradient `xᵀ · dy`.
    fn a_transposed(label: impl Into<String>, m: usize, k: usize, n: usize) -> Case {
        Case { label: label.into(), batch: 1, m, k, n, a_transposed: true, b_transposed: false }
    }

    fn operands(&self, rng: &mut Rng) -> (Tensor, Tensor) {
        let leading: &[usize] = if self.batch == 1 { &[] } else { std::slice::from_ref(&self.batch) };
        let shape = |rows: usize, cols: usize| -> Vec<usize> { leading.iter().copied().chain([rows, cols]).collect() };
        let a = if self.a_transposed {
            Tensor::randn(&shape(self.k, self.m), 0.0, 1.0, rng).transpose(-1, -2).expect("at least 2-D")
        } else {
            Tensor::randn(&shape(self.m, self.k), 0.0, 1.0, rng)
        };
        let b = if self.b_transposed {
            Tensor::randn(&shape(self.n, self.k), 0.0, 1.0, rng).transpose(-1, -2).expect("at least 2-D")
        } else {
            Tensor::randn(&shape(self.k, self.n), 0.0, 1.0, rng)
        };
        (a, b)
    }

    fn multiply_adds(&self) -> usize {
        self.batch * self.m * self.n * self.k
    }
}

/// Returns the square sizes: powers of two beside the odd 127, which is no
/// multiple of any SIMD width or cache block.
fn square_cases() -> Vec<Case> {
    [64, 127, 128, 256, 512, 1024, 2048].into_iter().map(|s| Case::new(format!("{s}"), 1, s, s, s, false)).collect()
}

/// Returns the products in one training step of the GPT `tiny` preset (n_embd 128,
/// n_head 4, block_size 128, vocabulary 256) on 2048 tokens, for example a
/// batch of 16 sequences of 128.
fn gpt_tiny_cases() -> Vec<Case> {
    vec![
        // Query, key and value projections in one matmul: (T, C) · (C, 3C).
        Case::new("qkv_2048x128x384", 1, 2048, 128, 384, false),
        // MLP expansion: (T, C) · (C, 4C).
        Case::new("mlp_up_2048x128x512", 1, 2048, 128, 512, false),
        // MLP projection back: (T, 4C) · (4C, C).
        Case::new("mlp_down_2048x512x128", 1, 2048, 512, 128, false),
        // Logits from the tied embedding table: (T, C) · Wᵀ with W of shape (vocab, C).
        Case::new("lm_head_2048x128x256_bt", 1, 2048, 128, 256, true),
        // Attention scores q · kᵀ for 16 sequences × 4 heads of size 32.
        Case::new("attn_scores_64x128x32x128_bt", 64, 128, 32, 128, true),
        // Attention output att · v for the same heads.
        Case::new("attn_values_64x128x128x32", 64, 128, 128, 32, false),
    ]
}

/// Returns the products in one training step of the GPT `small` preset
/// (n_embd 384, n_head 6, block_size 256) on 2048 tokens, for example a
/// batch of 8 sequences of 256, with a BPE vocabulary of 8192.
fn gpt_small_cases() -> Vec<Case> {
    vec![
        Case::new("qkv_2048x384x1152", 1, 2048, 384, 1152, false),
        Case::new("mlp_up_2048x384x1536", 1, 2048, 384, 1536, false),
        Case::new("mlp_down_2048x1536x384", 1, 2048, 1536, 384, false),
        Case::new("lm_head_2048x384x8192_bt", 1, 2048, 384, 8192, true),
        // Attention scores and output for 8 sequences × 6 heads of size 64.
        Case::new("attn_scores_48x256x64x256_bt", 48, 256, 64, 256, true),
        Case::new("attn_values_48x256x256x64", 48, 256, 256, 64, false),
        // Backward of the qkv projection: the weight gradient xᵀ · dy and the
        // input gradient dy · Wᵀ, both reading an operand transposed.
        Case::a_transposed("qkv_grad_w_384x2048x1152_at", 384, 2048, 1152),
        Case::new("qkv_grad_x_2048x1152x384_bt", 1, 2048, 1152, 384, true),
    ]
}

/// Returns square products whose left or right operand is a transposed view,
/// to compare with the plain `gemm_square/256` and `gemm_square/1024`.
fn transposed_cases() -> Vec<Case> {
    vec![
        Case::new("256_bt", 1, 256, 256, 256, true),
        Case::a_transposed("256_at", 256, 256, 256),
        Case::new("1024_bt", 1, 1024, 1024, 1024, true),
        Case::a_transposed("1024_at", 1024, 1024, 1024),
    ]
}

fn bench_group(c: &mut Criterion, group_name: &str, cases: &[Case]) {
    let mut group = c.benchmark_group(group_name);
    let mut rng = Rng::seed(0);
    for case in cases {
        let (a, b) = case.operands(&mut rng);
        group.throughput(Throughput::Elements(2 * case.multiply_adds() as u64));
        group.sample_size(if case.multiply_adds() > FEW_SAMPLES_MULTIPLY_ADDS { 10 } else { 100 });
        let mut kernels: Vec<&dyn GemmKernel> = vec![&MatrixMultiplyKernel, &Avx2Kernel];
        if Bf16Kernel::is_supported() {
            kernels.push(&Bf16Kernel);
        }
        if case.multiply_adds() <= NAIVE_MAX_MULTIPLY_ADDS {
            kernels.push(&NaiveKernel);
        }
        for kernel in kernels {
            group.bench_function(BenchmarkId::new(kernel.name(), &case.label), |bench| {
                bench.iter(|| a.matmul_with(&b, kernel).expect("shapes fit"))
            });
        }
    }
    group.finish();
}

/// Independent FMA chains per thread: enough to hide the FMA latency
/// (4 cycles) behind two pipes, with every accumulator in a register.
const PEAK_CHAINS: usize = 12;

/// FMA iterations per chain in one call of [`fma_peak`].
const PEAK_ITERATIONS: usize = 1 << 16;

/// Runs `PEAK_CHAINS` independent chains of 8-wide FMAs from registers and
/// returns their sum, so that the work cannot be optimised away.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_peak(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let scale = _mm256_set1_ps(0.999_999);
    let offset = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(seed); PEAK_CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = _mm256_add_ps(*a, _mm256_set1_ps(i as f32));
    }
    for _ in 0..PEAK_ITERATIONS {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, scale, offset);
        }
    }
    let mut lanes = [0.0f32; 8];
    let mut total = _mm256_setzero_ps();
    for a in acc {
        total = _mm256_add_ps(total, a);
    }
    // SAFETY: `lanes` holds 8 floats, the width of one __m256.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total) };
    lanes.iter().sum()
}

/// Times `run` once on every thread of the pool per iteration, in the
/// group `fma_peak`, so elem/s reads as the FLOP/s of all threads together.
fn bench_peak(c: &mut Criterion, name: &str, flops_per_run: usize, run: impl Fn(f32) -> f32 + Sync) {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let mut group = c.benchmark_group("fma_peak");
    group.throughput(Throughput::Elements((threads * flops_per_run) as u64));
    group.bench_function(BenchmarkId::new(name, format!("{threads}_threads")), |bench| {
        bench.iter(|| (0..threads).into_par_iter().map(|t| run(t as f32)).sum::<f32>())
    });
    group.finish();
}

/// Measures the FMA peak of the pool's threads, the ceiling for the GEMM
/// groups.
#[cfg(target_arch = "x86_64")]
fn bench_fma_peak(c: &mut Criterion) {
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return;
    }
    // SAFETY: AVX2 and FMA were detected above.
    bench_peak(c, "avx2_fma", 2 * 8 * PEAK_CHAINS * PEAK_ITERATIONS, |seed| unsafe { fma_peak(seed) });
}

/// Runs `PEAK_CHAINS` independent chains of `vdpbf16ps` (16 lanes, two
/// bf16 products per lane) from registers and returns their sum.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
fn dpbf16_peak(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    // Two bf16 values of about 0.001 per 32-bit word, so the sums stay small.
    // SAFETY: __m512i and __m512bh are both 64 bytes of plain lanes.
    let pair: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi32(0x3a83_3a83)) };
    let mut acc = [_mm512_set1_ps(seed); PEAK_CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = _mm512_add_ps(*a, _mm512_set1_ps(i as f32));
    }
    for _ in 0..PEAK_ITERATIONS {
        for a in acc.iter_mut() {
            *a = _mm512_dpbf16_ps(*a, pair, pair);
        }
    }
    let mut total = _mm512_setzero_ps();
    for a in acc {
        total = _mm512_add_ps(total, a);
    }
    _mm512_reduce_add_ps(total)
}

/// Measures the `vdpbf16ps` peak of the pool's threads, the ceiling for the
/// bf16 kernel, where the CPU has AVX-512 BF16.
#[cfg(target_arch = "x86_64")]
fn bench_dpbf16_peak(c: &mut Criterion) {
    if !Bf16Kernel::is_supported() {
        return;
    }
    // SAFETY: AVX-512F and AVX-512 BF16 were detected above.
    bench_peak(c, "avx512_dpbf16", 2 * 32 * PEAK_CHAINS * PEAK_ITERATIONS, |seed| unsafe { dpbf16_peak(seed) });
}

#[cfg(not(target_arch = "x86_64"))]
fn bench_fma_peak(_: &mut Criterion) {}

#[cfg(not(target_arch = "x86_64"))]
fn bench_dpbf16_peak(_: &mut Criterion) {}

fn gemm(c: &mut Criterion) {
    bench_fma_peak(c);
    bench_dpbf16_peak(c);
    bench_group(c, "gemm_square", &square_cases());
    bench_group(c, "gemm_transposed", &transposed_cases());
    bench_group(c, "gemm_gpt_tiny", &gpt_tiny_cases());
    bench_group(c, "gemm_gpt_small", &gpt_small_cases());
}

criterion_group!(benches, gemm);
criterion_main!(benches);
