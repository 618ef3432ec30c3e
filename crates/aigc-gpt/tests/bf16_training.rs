//! Mixed-precision training: with the bf16 GEMM kernel, a GPT learns like it
//! does in f32, and a run repeats bit for bit, also across thread counts.
//!
//! One test in its own binary, because it switches the process-wide GEMM
//! kernel. On CPUs without AVX-512 BF16 it has nothing to check.

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{Module, ParamKind};
use aigc_optim::{AdamW, Optimizer};
use aigc_tensor::gemm::{self, Bf16Kernel, MatmulPrecision};
use aigc_tensor::{Rng, Tensor};

const STEPS: usize = 40;
const BATCH: usize = 4;

fn config() -> GptConfig {
    GptConfig { vocab_size: 61, n_layer: 2, n_head: 4, n_embd: 64, block_size: 48, dropout: 0.0, bias: true }
}

/// Trains a fresh model at `precision` on `threads` threads, on one fixed
/// batch of random tokens that it can learn by heart, and returns the loss
/// of every step.
fn train(precision: MatmulPrecision, threads: usize) -> Vec<f32> {
    gemm::set_matmul_precision(precision).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let config = config();
        let model = Gpt::with_seed(config.clone(), 3).unwrap();
        let params = model.parameters();
        let mut optimizer = AdamW::new(3e-3, 0.1).decay_kinds(&[ParamKind::Weight]);
        let mut rng = Rng::seed(5);
        let tokens: Vec<f32> = (0..BATCH * (config.block_size + 1)).map(|_| rng.below(config.vocab_size) as f32).collect();
        let sequences = Tensor::from_vec(tokens, &[BATCH, config.block_size + 1]).unwrap();
        let ids = sequences.narrow(1, 0, config.block_size).unwrap().contiguous();
        let targets = sequences.narrow(1, 1, config.block_size).unwrap().contiguous();
        (0..STEPS)
            .map(|_| {
                let (_, loss) = model.forward_with_loss(&ids, &targets).unwrap();
                model.zero_grad();
                loss.backward().unwrap();
                optimizer.step(&params).unwrap();
                loss.value().item().unwrap()
            })
            .collect()
    })
}

#[test]
fn bf16_training_follows_f32_and_repeats_exactly() {
    if !Bf16Kernel::is_supported() {
        eprintln!("skipped: this CPU lacks AVX-512 BF16, so the bf16 kernel computes in f32");
        return;
    }
    let f32_losses = train(MatmulPrecision::F32, 1);
    let bf16_losses = train(MatmulPrecision::Bf16, 1);
    let bf16_two_threads = train(MatmulPrecision::Bf16, 2);
    gemm::set_matmul_precision(MatmulPrecision::F32).unwrap();

    let (first, last) = (bf16_losses[0], bf16_losses[STEPS - 1]);
    assert!((first - f32_losses[0]).abs() < 0.01 * f32_losses[0], "first loss: bf16 {first}, f32 {}", f32_losses[0]);
    assert!(last < 0.5 * first, "bf16 run did not learn the batch: loss {first} -> {last}");
    let f32_last = f32_losses[STEPS - 1];
    assert!(
        (last - f32_last).abs() < 0.05 * f32_last.max(0.5),
        "bf16 ends at {last}, f32 at {f32_last}; all bf16 losses: {bf16_losses:?}"
    );
    assert_eq!(bf16_losses, bf16_two_threads, "bf16 losses differ between 1 and 2 threads");
    assert_eq!(bf16_losses, train(MatmulPrecision::Bf16, 1), "a second bf16 run differs");
    gemm::set_matmul_precision(MatmulPrecision::F32).unwrap();
}
