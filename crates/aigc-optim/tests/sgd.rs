//! SGD against the hand-computed values of `reference/expected_values.py`.

mod common;

use aigc_nn::ParamKind;
use aigc_optim::{Optimizer, Sgd};
use common::{check_three_steps, param, set_grad, values, P0};

/// f32 arithmetic over three steps stays within a few ulps of values near 1.
const ATOL: f64 = 1e-6;

// p ← p − 0.1·g: (1, −2) → (0.95, −1.9) → (0.975, −2.1) → (0.875, −2.15).
const SGD_PLAIN: [[f64; 2]; 3] = [[0.95, -1.9], [0.975, -2.1], [0.875, -2.15]];

// b₁ = g₁ = (0.5, −1); b₂ = 0.9·b₁ + g₂ = (0.2, 1.1); b₃ = 0.9·b₂ + g₃ = (1.18, 1.49); p ← p − 0.1·b.
const SGD_MOMENTUM: [[f64; 2]; 3] = [[0.95, -1.9], [0.93, -2.01], [0.812, -2.159]];

// Same buffers; the step uses g + 0.9·b: (0.95, −1.9), (−0.07, 2.99), (2.062, 1.841).
const SGD_NESTEROV: [[f64; 2]; 3] = [[0.905, -1.81], [0.912, -2.109], [0.7058, -2.2931]];

// g ← g + 0.1·p, then b ← 0.9·b + 0.5·g with b₁ = g₁.
const SGD_DAMPENING_DECAY: [[f64; 2]; 3] = [
    [0.94, -1.88],
    [0.8937999999999999, -1.8625999999999998],
    [0.7977509999999999, -1.8626269999999998],
];

#[test]
fn sgd_plain_three_steps() {
    check_three_steps(&mut Sgd::new(0.1), ParamKind::Weight, &SGD_PLAIN, ATOL);
}

#[test]
fn sgd_momentum_three_steps() {
    check_three_steps(&mut Sgd::new(0.1).momentum(0.9), ParamKind::Weight, &SGD_MOMENTUM, ATOL);
}

#[test]
fn sgd_nesterov_three_steps() {
    let mut optimizer = Sgd::new(0.1).momentum(0.9).nesterov(true);
    check_three_steps(&mut optimizer, ParamKind::Weight, &SGD_NESTEROV, ATOL);
}

#[test]
fn sgd_dampening_and_decay_three_steps() {
    let mut optimizer = Sgd::new(0.1).momentum(0.9).dampening(0.5).weight_decay(0.1);
    check_three_steps(&mut optimizer, ParamKind::Weight, &SGD_DAMPENING_DECAY, ATOL);
}

#[test]
fn sgd_weight_decay_applies_to_every_kind() {
    // PyTorch's SGD decays every parameter in its group, biases included.
    let mut optimizer = Sgd::new(0.1).momentum(0.9).dampening(0.5).weight_decay(0.1);
    check_three_steps(&mut optimizer, ParamKind::Bias, &SGD_DAMPENING_DECAY, ATOL);
}

#[test]
fn sgd_skips_parameters_without_grad() {
    let with_grad = param("a", &[1.0, 2.0], ParamKind::Weight);
    let without_grad = param("b", &[3.0, 4.0], ParamKind::Weight);
    set_grad(&with_grad, &[1.0, 1.0]);
    let mut optimizer = Sgd::new(0.5).momentum(0.9);

    optimizer.step(&[with_grad.clone(), without_grad.clone()]).unwrap();

    assert_eq!(values(&with_grad), vec![0.5, 1.5]);
    assert_eq!(values(&without_grad), vec![3.0, 4.0]);
    let state = optimizer.state();
    assert!(state.buffers["momentum_buffer"].contains_key("a"));
    assert!(!state.buffers["momentum_buffer"].contains_key("b"));
}

#[test]
fn sgd_updates_tied_parameter_once() {
    let shared = param("wte.weight", &[1.0, 1.0], ParamKind::Embedding);
    let tied = aigc_nn::Parameter::new("lm_head.weight", shared.var.clone(), ParamKind::Weight);
    set_grad(&shared, &[1.0, 2.0]);

    Sgd::new(0.1).step(&[shared.clone(), tied]).unwrap();

    assert_eq!(values(&shared), vec![0.9, 0.8]);
}

#[test]
fn sgd_large_tensor_matches_small_loop() {
    // Above the parallel threshold the update runs on rayon in chunks; each
    // element must still get exactly the sequential result.
    let n = (1 << 17) + 3;
    let start: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.01 - 0.5).collect();
    let grad: Vec<f32> = (0..n).map(|i| (i % 31) as f32 * 0.1 - 1.5).collect();
    let big = param("big", &start, ParamKind::Weight);
    let mut optimizer = Sgd::new(0.05).momentum(0.9).nesterov(true).weight_decay(0.01);
    for _ in 0..2 {
        set_grad(&big, &grad);
        optimizer.step(std::slice::from_ref(&big)).unwrap();
    }

    let got = values(&big);
    for i in [0, 1, 16_383, 16_384, n / 2, n - 1] {
        let mut small = Sgd::new(0.05).momentum(0.9).nesterov(true).weight_decay(0.01);
        let one = param("one", &[start[i]], ParamKind::Weight);
        for _ in 0..2 {
            set_grad(&one, &[grad[i]]);
            small.step(std::slice::from_ref(&one)).unwrap();
        }
        assert_eq!(got[i].to_bits(), values(&one)[0].to_bits(), "element {i}");
    }
}

#[test]
fn sgd_nesterov_without_momentum_is_error() {
    let p = param("p", &P0, ParamKind::Weight);
    set_grad(&p, &[1.0, 1.0]);
    let err = Sgd::new(0.1).nesterov(true).step(std::slice::from_ref(&p)).unwrap_err().to_string();
    assert!(err.contains("Nesterov"), "{err}");
    assert_eq!(values(&p), P0.to_vec());
}

#[test]
fn sgd_negative_learning_rate_is_error() {
    let p = param("p", &P0, ParamKind::Weight);
    set_grad(&p, &[1.0, 1.0]);
    let mut optimizer = Sgd::new(0.1);
    optimizer.set_learning_rate(-1.0);
    let err = optimizer.step(std::slice::from_ref(&p)).unwrap_err().to_string();
    assert!(err.contains("learning rate -1"), "{err}");
}
