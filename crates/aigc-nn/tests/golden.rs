//! Compares layers with PyTorch. The values come from
//! `tests/fixtures/nn_reference.py` (float64 maths on float32 inputs), so the
//! tolerances only cover aigc's own float32 rounding.

mod common;

use std::collections::HashMap;

use aigc_autograd::Var;
use aigc_nn::loss::{categorical_crossentropy, sparse_categorical_crossentropy};
use aigc_nn::{CausalSelfAttention, Init, LayerNorm, Linear, Mlp, Module};
use aigc_tensor::{Rng, Tensor};
use common::assert_close;

/// Reads `name shape values...` lines; a shape of `[]` is 0-d.
fn fixture() -> HashMap<String, Tensor> {
    let text = include_str!("fixtures/nn_golden.txt");
    let mut tensors = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let name = fields.next().expect("name").to_string();
        let shape: Vec<usize> = match fields.next().expect("shape") {
            "[]" => Vec::new(),
            dims => dims.split(',').map(|d| d.parse().expect("size")).collect(),
        };
        let values: Vec<f32> = fields.map(|v| v.parse().expect("value")).collect();
        tensors.insert(name, Tensor::from_vec(values, &shape).expect("values fill shape"));
    }
    tensors
}

/// Runs `forward` on the fixture's inputs named `inputs` (under `prefix`),
/// back-propagates Σ output·w, and compares the output and every gradient.
fn check_layer(prefix: &str, inputs: &[&str], tolerance: f32, forward: impl Fn(&[Var]) -> Var) {
    let f = fixture();
    let get = |name: &str| f[&format!("{prefix}.{name}")].clone();
    let vars: Vec<Var> = inputs.iter().map(|name| Var::parameter(get(name))).collect();
    let y = forward(&vars);
    eprintln!("{prefix} output: max |aigc − PyTorch| = {:e}", y.value().max_abs_diff(&get("y")));
    assert_close(&y.value(), &get("y"), tolerance, &format!("{prefix} output"));
    y.mul(&Var::new(get("w"))).unwrap().sum_all().backward().unwrap();
    for (name, var) in inputs.iter().zip(&vars) {
        let expected = get(&format!("grad.{name}"));
        // scale the tolerance with the gradient's size (some reach 15)
        let scale = expected.abs().max_all().unwrap().max(1.0);
        eprintln!("{prefix} grad {name}: max |aigc − PyTorch| = {:e}", var.grad().unwrap().max_abs_diff(&expected));
        assert_close(&var.grad().unwrap(), &expected, tolerance * scale, &format!("{prefix} grad {name}"));
    }
}

#[test]
fn causal_self_attention_matches_pytorch() {
    let base = CausalSelfAttention::new(8, 2, true, 0.0, Init::Zeros, &mut Rng::seed(0)).unwrap();
    let inputs = ["x", "c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"];
    check_layer("attn", &inputs, 2e-5, |v| {
        let mut attn = base.clone();
        attn.c_attn = Linear { weight: v[1].clone(), bias: Some(v[2].clone()) };
        attn.c_proj = Linear { weight: v[3].clone(), bias: Some(v[4].clone()) };
        attn.forward(&v[0]).unwrap()
    });
}

#[test]
fn layer_norm_matches_pytorch() {
    check_layer("ln", &["x", "weight", "bias"], 2e-5, |v| {
        LayerNorm { weight: v[1].clone(), bias: Some(v[2].clone()), eps: 1e-5 }.forward(&v[0]).unwrap()
    });
}

#[test]
fn mlp_matches_pytorch() {
    let base = Mlp::new(8, 32, true, 0.0, Init::Zeros, &mut Rng::seed(0)).unwrap();
    let inputs = ["x", "c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"];
    check_layer("mlp", &inputs, 2e-5, |v| {
        let mut mlp = base.clone();
        mlp.c_fc = Linear { weight: v[1].clone(), bias: Some(v[2].clone()) };
        mlp.c_proj = Linear { weight: v[3].clone(), bias: Some(v[4].clone()) };
        mlp.forward(&v[0]).unwrap()
    });
}

#[test]
fn crossentropy_matches_pytorch() {
    let f = fixture();
    for (prefix, sparse) in [("sparse_ce", true), ("dist_ce", false)] {
        let logits = Var::parameter(f[&format!("{prefix}.logits")].clone());
        let targets = &f[&format!("{prefix}.targets")];
        let loss = if sparse {
            sparse_categorical_crossentropy(&logits, targets).unwrap()
        } else {
            categorical_crossentropy(&logits, targets).unwrap()
        };
        loss.backward().unwrap();
        let expected = f[&format!("{prefix}.loss")].item().unwrap();
        let actual = loss.value().item().unwrap();
        assert!((actual - expected).abs() < 1e-5, "{prefix} loss {actual} vs {expected}");
        assert_close(&logits.grad().unwrap(), &f[&format!("{prefix}.grad.logits")], 1e-6, &format!("{prefix} grad"));
    }
}
