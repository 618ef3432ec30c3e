//! Whole-model check against PyTorch: logits, loss, every parameter gradient,
//! and the losses and final weights of ten AdamW steps.
//!
//! The fixture comes from `tools/reference/gpt_reference.py golden` (see
//! `tests/fixtures/README.md`). Tolerance: for each tensor,
//! `max |ours − torch| ≤ 1e-4 · max |torch|`, relative to the tensor's largest
//! magnitude because some gradient entries are near zero, where an
//! element-wise relative error only measures f32 rounding.

use std::collections::HashMap;

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{Module, ParamKind};
use aigc_optim::{clip_grad_norm, AdamW, Optimizer};
use aigc_tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gpt_golden.safetensors");
const TOLERANCE: f32 = 1e-4;

struct Fixture {
    tensors: HashMap<String, Tensor>,
}

impl Fixture {
    fn load() -> Fixture {
        let bytes = std::fs::read(FIXTURE).expect("fixture file is committed");
        let file = SafeTensors::deserialize(&bytes).expect("valid safetensors");
        let mut tensors = HashMap::new();
        for (name, view) in file.tensors() {
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
                Dtype::I64 => view.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
                other => panic!("unexpected dtype {other:?} for {name}"),
            };
            tensors.insert(name.clone(), Tensor::from_vec(values, view.shape()).unwrap());
        }
        Fixture { tensors }
    }

    fn get(&self, name: &str) -> &Tensor {
        self.tensors.get(name).unwrap_or_else(|| panic!("fixture has no tensor {name}"))
    }
}

fn config() -> GptConfig {
    GptConfig { vocab_size: 64, n_layer: 2, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.0, bias: true }
}

fn model_with_fixture_weights(fixture: &Fixture) -> Gpt {
    let model = Gpt::new(config()).unwrap();
    let params = model.parameters();
    assert_eq!(params.len(), 28, "parameter count");
    for p in &params {
        p.var.set_value(fixture.get(&format!("param.{}", p.name)).clone()).unwrap();
    }
    model
}

/// max |a − b| / max |b|, printed per tensor so a failure shows every difference.
fn relative_error(name: &str, ours: &Tensor, theirs: &Tensor) -> f32 {
    assert_eq!(ours.shape(), theirs.shape(), "{name}: shapes differ");
    let scale = theirs.to_vec().iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    let error = ours.max_abs_diff(theirs) / scale;
    println!("{name:32} relative max error {error:.2e}");
    error
}

#[test]
fn logits_loss_and_gradients_match_pytorch() {
    let fixture = Fixture::load();
    let model = model_with_fixture_weights(&fixture);
    let (logits, loss) = model.forward_with_loss(fixture.get("input_ids"), fixture.get("targets")).unwrap();

    let mut worst = relative_error("logits", &logits.value(), fixture.get("logits"));
    let expected_loss = fixture.get("loss").to_vec()[0];
    let loss_error = (loss.value().item().unwrap() - expected_loss).abs() / expected_loss.abs();
    println!("{:32} relative error {loss_error:.2e}", "loss");
    worst = worst.max(loss_error);

    loss.backward().unwrap();
    for p in model.parameters() {
        let grad = p.var.grad().unwrap_or_else(|| panic!("{} has no gradient", p.name));
        worst = worst.max(relative_error(&format!("grad.{}", p.name), &grad, fixture.get(&format!("grad.{}", p.name))));
    }
    assert!(worst <= TOLERANCE, "largest relative error {worst:.2e} exceeds {TOLERANCE:.0e}");
}

#[test]
fn ten_adamw_steps_match_pytorch() {
    let fixture = Fixture::load();
    let model = model_with_fixture_weights(&fixture);
    let params = model.parameters();
    let decayed: Vec<&str> = params.iter().filter(|p| p.kind == ParamKind::Weight).map(|p| p.name.as_str()).collect();
    assert_eq!(decayed.len(), 8, "c_attn, c_proj and c_fc weights of two blocks decay: {decayed:?}");

    let mut optimizer = AdamW::new(1e-3, 0.1).betas(0.9, 0.95).eps(1e-8);
    let expected_losses = fixture.get("adamw_losses").to_vec();
    let expected_norms = fixture.get("adamw_grad_norms").to_vec();
    let mut worst = 0.0f32;
    for step in 0..10 {
        let (_, loss) = model.forward_with_loss(fixture.get("input_ids"), fixture.get("targets")).unwrap();
        let loss_value = loss.value().item().unwrap();
        model.zero_grad();
        loss.backward().unwrap();
        let norm = clip_grad_norm(&params, 1.0).unwrap();
        optimizer.step(&params).unwrap();

        let loss_error = (loss_value - expected_losses[step]).abs() / expected_losses[step].abs();
        let norm_error = (norm - expected_norms[step]).abs() / expected_norms[step].abs();
        println!("step {step}: loss {loss_value:.6} (torch {:.6}), grad norm {norm:.5} (torch {:.5})", expected_losses[step], expected_norms[step]);
        worst = worst.max(loss_error).max(norm_error);
    }
    for p in &params {
        worst = worst.max(relative_error(&format!("adamw_final.{}", p.name), &p.var.value(), fixture.get(&format!("adamw_final.{}", p.name))));
    }
    assert!(worst <= TOLERANCE, "largest relative error {worst:.2e} exceeds {TOLERANCE:.0e}");
}
