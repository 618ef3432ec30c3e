//! GEMM throughput of each kernel through `Tensor::matmul_with`.
//!
//! Run with `cargo bench --bench gemm` (add `-- --quick` for a short run).
//! Throughput is `Throughput::Elements(2·batch·m·n·k)`: one element is one
//! floating-point operation (a multiply or an add), so criterion's
//! "elem/s" column reads as FLOP/s.
//!
//! `matmul_with` splits large products across the global rayon pool, so the
//! numbers depend on the core count (set `RAYON_NUM_THREADS` to pin it).
//! The naive kernel runs only on products of at most 256 × 256 × 256: it is
//! the slow reference, and the larger shapes would take seconds per iteration.

use aigc_tensor::gemm::{GemmKernel, MatrixMultiplyKernel, NaiveKernel};
use aigc_tensor::{Rng, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Largest multiply-add count (256³) the naive kernel is benchmarked at.
const NAIVE_MAX_MULTIPLY_ADDS: usize = 256 * 256 * 256;

/// A product `(batch, m, k) · (batch, k, n)`; a batch of 1 is a plain 2-D product.
struct Case {
    label: String,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    /// Whether the right operand is the transposed view of an (n, k) tensor.
    b_transposed: bool,
}

impl Case {
    fn new(label: impl Into<String>, batch: usize, m: usize, k: usize, n: usize, b_transposed: bool) -> Case {
        Case { label: label.into(), batch, m, k, n, b_transposed }
    }

    fn operands(&self, rng: &mut Rng) -> (Tensor, Tensor) {
        let leading: &[usize] = if self.batch == 1 { &[] } else { std::slice::from_ref(&self.batch) };
        let shape = |rows: usize, cols: usize| -> Vec<usize> { leading.iter().copied().chain([rows, cols]).collect() };
        let a = Tensor::randn(&shape(self.m, self.k), 0.0, 1.0, rng);
        let b = if self.b_transposed {
            Tensor::randn(&shape(self.n, self.k), 0.0, 1.0, rng).t().expect("at least 2-D")
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
    [64, 127, 128, 256, 512].into_iter().map(|s| Case::new(format!("{s}"), 1, s, s, s, false)).collect()
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
    ]
}

/// Returns a square product whose right operand is a transposed view, to
/// compare with the plain `gemm_square/256`.
fn transposed_cases() -> Vec<Case> {
    vec![Case::new("256_bt", 1, 256, 256, 256, true)]
}

fn bench_group(c: &mut Criterion, group_name: &str, cases: &[Case]) {
    let mut group = c.benchmark_group(group_name);
    let mut rng = Rng::seed(0);
    for case in cases {
        let (a, b) = case.operands(&mut rng);
        group.throughput(Throughput::Elements(2 * case.multiply_adds() as u64));
        let mut kernels: Vec<&dyn GemmKernel> = vec![&MatrixMultiplyKernel];
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

fn gemm(c: &mut Criterion) {
    bench_group(c, "gemm_square", &square_cases());
    bench_group(c, "gemm_transposed", &transposed_cases());
    bench_group(c, "gemm_gpt_tiny", &gpt_tiny_cases());
}

criterion_group!(benches, gemm);
criterion_main!(benches);
