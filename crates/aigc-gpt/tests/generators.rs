//! The GPT's dropout generators: every Dropout layer is reachable by name,
//! so a checkpoint can save the mask stream and a resumed run continue it.

use aigc_autograd::Var;
use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::Module;
use aigc_tensor::Tensor;

fn config(dropout: f32) -> GptConfig {
    GptConfig { vocab_size: 16, n_layer: 2, n_head: 2, n_embd: 8, block_size: 8, dropout, bias: true }
}

#[test]
fn gpt_names_every_dropout_generator() {
    let names: Vec<String> = Gpt::new(config(0.1)).unwrap().generators().into_iter().map(|g| g.name).collect();
    let expected = [
        "drop.rng",
        "h.0.attn.attn_dropout.rng",
        "h.0.attn.resid_dropout.rng",
        "h.0.mlp.dropout.rng",
        "h.1.attn.attn_dropout.rng",
        "h.1.attn.resid_dropout.rng",
        "h.1.mlp.dropout.rng",
    ];
    assert_eq!(names, expected);
}

#[test]
fn restored_generators_repeat_dropout_masks() {
    let ids = Var::new(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 6]).unwrap());
    let model = Gpt::with_seed(config(0.3), 5).unwrap();
    let saved: Vec<_> = model.generators().iter().map(|g| g.state()).collect();
    let first = model.forward(&ids).unwrap().value().to_vec();
    let second = model.forward(&ids).unwrap().value().to_vec();
    assert_ne!(first, second, "each forward pass draws new masks");

    for (generator, state) in model.generators().iter().zip(saved) {
        generator.set_state(state);
    }
    assert_eq!(model.forward(&ids).unwrap().value().to_vec(), first);
}
