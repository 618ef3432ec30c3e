//! Training is reproducible: with a fixed seed, the loss of every step is
//! the same bit for bit from run to run at a given thread count, and also
//! across thread counts.
//!
//! The model is large enough that every parallel path runs on more than
//! one thread: GEMM row blocks, attention batch elements, LayerNorm row
//! blocks and element-wise loops over 2¹⁶ elements and more.

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{Module, ParamKind};
use aigc_optim::{AdamW, Optimizer};
use aigc_tensor::{Rng, Tensor};

const STEPS: usize = 4;
const BATCH: usize = 8;

fn config() -> GptConfig {
    GptConfig { vocab_size: 97, n_layer: 2, n_head: 4, n_embd: 128, block_size: 64, dropout: 0.0, bias: true }
}

/// Trains a fresh model for a few AdamW steps on random tokens in a pool of
/// `threads` threads and returns each step's loss and the final value of
/// one weight matrix.
fn train(threads: usize) -> (Vec<f32>, Vec<f32>) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let config = config();
        let model = Gpt::with_seed(config.clone(), 7).unwrap();
        let params = model.parameters();
        let mut optimizer = AdamW::new(1e-3, 0.1).decay_kinds(&[ParamKind::Weight]);
        let mut rng = Rng::seed(11);
        let shape = [BATCH, config.block_size];
        let mut random_ids = || {
            let ids = (0..BATCH * config.block_size).map(|_| rng.below(config.vocab_size) as f32).collect();
            Tensor::from_vec(ids, &shape).unwrap()
        };
        let mut losses = Vec::with_capacity(STEPS);
        for _ in 0..STEPS {
            let (ids, targets) = (random_ids(), random_ids());
            let (logits, loss) = model.forward_with_loss(&ids, &targets).unwrap();
            model.zero_grad();
            loss.backward().unwrap();
            losses.push(loss.value().item().unwrap());
            drop((logits, loss));
            optimizer.step(&params).unwrap();
        }
        (losses, model.h[1].mlp.c_fc.weight.value().to_vec())
    })
}

/// Asserts that two runs agree bit for bit, naming the first weight that differs.
fn assert_same(first: &(Vec<f32>, Vec<f32>), second: &(Vec<f32>, Vec<f32>)) {
    assert_eq!(first.0, second.0, "losses");
    let differing = first.1.iter().zip(&second.1).position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(differing, None, "first weight that differs after training");
}

#[test]
fn training_repeats_exactly_on_one_thread() {
    assert_same(&train(1), &train(1));
}

#[test]
fn training_repeats_exactly_on_two_threads() {
    assert_same(&train(2), &train(2));
}

#[test]
fn training_matches_across_thread_counts() {
    assert_same(&train(1), &train(2));
}
