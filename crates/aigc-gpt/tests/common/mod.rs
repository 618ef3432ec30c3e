//! Setup shared by the decoding tests: one small model configuration and a
//! way to give its weights a chosen spread.

#![allow(dead_code)]

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::Module;
use aigc_tensor::{Rng, Tensor};

/// Returns a two-layer config with an odd vocabulary of 61 tokens and a 40-token context.
pub fn config() -> GptConfig {
    GptConfig { vocab_size: 61, n_layer: 2, n_head: 4, n_embd: 64, block_size: 40, dropout: 0.0, bias: true }
}

/// Draws every parameter of `model` from N(0, std²), so that logits spread over several units.
pub fn redraw(model: &Gpt, std: f32, seed: u64) {
    let mut rng = Rng::seed(seed);
    for param in model.parameters() {
        let shape = param.var.shape();
        let values = (0..shape.iter().product::<usize>()).map(|_| std * rng.normal()).collect();
        param.var.set_value(Tensor::from_vec(values, &shape).unwrap()).unwrap();
    }
}
