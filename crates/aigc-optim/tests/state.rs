//! Saving and restoring optimizer state.

mod common;

use aigc_autograd::{Tensor, Var};
use aigc_nn::{ParamKind, Parameter};
use aigc_optim::{optimizer_by_name, Adam, AdamW, Optimizer, OptimizerState, SavedTensor, Sgd};
use aigc_tensor::Rng;
use common::{param, set_grad};

/// Builds a weight (2, 3) and a bias (3), as a linear layer has.
fn model(weight: Tensor, bias: Tensor) -> Vec<Parameter> {
    vec![
        Parameter::new("fc.weight", Var::parameter(weight), ParamKind::Weight),
        Parameter::new("fc.bias", Var::parameter(bias), ParamKind::Bias),
    ]
}

fn fresh_model() -> Vec<Parameter> {
    let mut rng = Rng::seed(7);
    model(Tensor::randn(&[2, 3], 0.0, 1.0, &mut rng), Tensor::randn(&[3], 0.0, 1.0, &mut rng))
}

/// Gives every parameter a gradient drawn from `rng`.
fn random_grads(params: &[Parameter], rng: &mut Rng) {
    for p in params {
        p.var.set_grad(Some(Tensor::randn(&p.var.shape(), 0.0, 1.0, rng)));
    }
}

fn bits(params: &[Parameter]) -> Vec<Vec<u32>> {
    params.iter().map(|p| p.var.value().to_vec().iter().map(|v| v.to_bits()).collect()).collect()
}

/// Steps `original` twice, saves its state through JSON, loads it into
/// `restored` on a re-created model, then checks that three more steps give
/// bit-identical parameters.
fn check_round_trip(mut original: Box<dyn Optimizer>, mut restored: Box<dyn Optimizer>) {
    let params = fresh_model();
    let mut grads_rng = Rng::seed(11);
    for _ in 0..2 {
        random_grads(&params, &mut grads_rng);
        original.step(&params).unwrap();
    }

    let json = serde_json::to_string(&original.state()).unwrap();
    let state: OptimizerState = serde_json::from_str(&json).unwrap();
    assert_eq!(state, original.state());
    assert_eq!(state.step, 2);
    restored.load_state(state).unwrap();
    assert_eq!(restored.state(), original.state());

    // A new model with the same names and values, as after loading a checkpoint.
    let copies = model(params[0].var.value().contiguous(), params[1].var.value().contiguous());
    for _ in 0..3 {
        let mut copy_rng = grads_rng.clone();
        random_grads(&params, &mut grads_rng);
        random_grads(&copies, &mut copy_rng);
        original.step(&params).unwrap();
        restored.step(&copies).unwrap();
        assert_eq!(bits(&params), bits(&copies));
    }
    assert_eq!(restored.state(), original.state());
}

#[test]
fn sgd_state_round_trip() {
    let make = || Box::new(Sgd::new(0.1).momentum(0.9).nesterov(true).weight_decay(0.01)) as Box<dyn Optimizer>;
    check_round_trip(make(), make());
}

#[test]
fn adam_state_round_trip() {
    let make = || Box::new(Adam::new(0.01).betas(0.8, 0.99).weight_decay(0.1)) as Box<dyn Optimizer>;
    check_round_trip(make(), make());
}

#[test]
fn adamw_state_round_trip() {
    let make = || Box::new(AdamW::new(0.01, 0.1).betas(0.9, 0.95)) as Box<dyn Optimizer>;
    check_round_trip(make(), make());
}

#[test]
fn load_state_restores_hyperparameters() {
    // The restored optimizer starts from other settings; loading replaces them.
    let original = AdamW::new(0.01, 0.1).betas(0.9, 0.95).eps(1e-6).decay_kinds(&[ParamKind::Embedding]);
    check_round_trip(Box::new(original), optimizer_by_name("adamw", 123.0).unwrap());
    let original = Sgd::new(0.05).momentum(0.5).dampening(0.25);
    check_round_trip(Box::new(original), optimizer_by_name("sgd", 123.0).unwrap());
}

#[test]
fn adamw_state_contents() {
    let p = param("w", &[1.0, 2.0], ParamKind::Weight);
    set_grad(&p, &[0.5, -0.5]);
    let mut optimizer = AdamW::new(0.01, 0.1);
    optimizer.step(std::slice::from_ref(&p)).unwrap();

    let state = optimizer.state();
    assert_eq!(state.optimizer, "adamw");
    assert_eq!(state.step, 1);
    assert_eq!(state.param_steps["w"], 1);
    assert_eq!(state.hyperparameters["lr"], 0.01);
    assert_eq!(state.hyperparameters["beta2"], 0.999);
    assert_eq!(state.hyperparameters["decay_weight"], 1.0);
    assert_eq!(state.hyperparameters["decay_embedding"], 0.0);
    let exp_avg = &state.buffers["exp_avg"]["w"];
    assert_eq!(exp_avg.shape, vec![2]);
    assert_eq!(exp_avg.data, vec![(1.0f32 - 0.9) * 0.5, (1.0f32 - 0.9) * -0.5]);
}

#[test]
fn load_state_from_other_optimizer_is_error() {
    let state = Sgd::new(0.1).state();
    let mut adam = Adam::new(0.1);
    let err = adam.load_state(state).unwrap_err().to_string();
    assert!(err.contains("saved by optimizer `sgd`"), "{err}");
    assert!(err.contains("cannot be loaded into `adam`"), "{err}");
}

#[test]
fn load_state_missing_hyperparameter_is_error() {
    let mut state = AdamW::new(0.1, 0.1).state();
    state.hyperparameters.remove("beta1");
    let err = AdamW::new(0.1, 0.1).load_state(state).unwrap_err().to_string();
    assert!(err.contains("missing hyperparameter `beta1`"), "{err}");
}

#[test]
fn load_state_unknown_buffer_is_error() {
    let mut state = Sgd::new(0.1).state();
    state.buffers.insert("exp_avg".into(), Default::default());
    let err = Sgd::new(0.1).load_state(state).unwrap_err().to_string();
    assert!(err.contains("unknown buffer `exp_avg`"), "{err}");
    assert!(err.contains("expected: momentum_buffer"), "{err}");
}

#[test]
fn load_state_buffer_data_length_is_checked() {
    let p = param("h.0.attn.c_attn.weight", &[1.0, 2.0], ParamKind::Weight);
    set_grad(&p, &[0.5, -0.5]);
    let mut optimizer = Sgd::new(0.1).momentum(0.9);
    optimizer.step(std::slice::from_ref(&p)).unwrap();
    let mut state = optimizer.state();
    state.buffers.get_mut("momentum_buffer").unwrap().get_mut("h.0.attn.c_attn.weight").unwrap().data.pop();

    let mut fresh = Sgd::new(0.1).momentum(0.9);
    let err = fresh.load_state(state).unwrap_err().to_string();
    assert!(err.contains("`h.0.attn.c_attn.weight`"), "{err}");
    assert!(err.contains("has shape [2] (2 values) but its data has length 1"), "{err}");
    assert_eq!(fresh.steps(), 0, "a failed load leaves the optimizer unchanged");
}

#[test]
fn load_state_adam_moments_must_match() {
    let p = param("w", &[1.0, 2.0], ParamKind::Weight);
    set_grad(&p, &[0.5, -0.5]);
    let mut optimizer = Adam::new(0.1);
    optimizer.step(std::slice::from_ref(&p)).unwrap();

    let mut state = optimizer.state();
    state.buffers.get_mut("exp_avg_sq").unwrap().insert("w".into(), SavedTensor::zeros(&[1, 2]));
    let err = Adam::new(0.1).load_state(state).unwrap_err().to_string();
    assert!(err.contains("`exp_avg` and `exp_avg_sq` of parameter `w`"), "{err}");

    let mut state = optimizer.state();
    state.param_steps.clear();
    let err = Adam::new(0.1).load_state(state).unwrap_err().to_string();
    assert!(err.contains("parameter `w` has moment buffers but no step count"), "{err}");
}

#[test]
fn load_state_invalid_hyperparameter_is_error() {
    let mut state = Adam::new(0.1).state();
    state.hyperparameters.insert("beta2".into(), 1.5);
    let err = Adam::new(0.1).load_state(state).unwrap_err().to_string();
    assert!(err.contains("beta2 1.5"), "{err}");
}

#[test]
fn buffer_shape_from_other_model_is_error() {
    // State saved for a (2,) parameter, then stepped on a (3,) one of the same name.
    let small = param("fc.bias", &[1.0, 2.0], ParamKind::Bias);
    set_grad(&small, &[0.5, -0.5]);
    let mut optimizer = Adam::new(0.1);
    optimizer.step(std::slice::from_ref(&small)).unwrap();
    let mut restored = Adam::new(0.1);
    restored.load_state(optimizer.state()).unwrap();

    let large = param("fc.bias", &[1.0, 2.0, 3.0], ParamKind::Bias);
    set_grad(&large, &[0.1, 0.2, 0.3]);
    let err = restored.step(std::slice::from_ref(&large)).unwrap_err().to_string();
    assert!(err.contains("`fc.bias` has shape [2]"), "{err}");
    assert!(err.contains("the parameter has shape [3]"), "{err}");
    assert_eq!(large.var.value().to_vec(), vec![1.0, 2.0, 3.0]);
}
