//! Adam and AdamW against the hand-computed values of `reference/expected_values.py`.

mod common;

use aigc_nn::ParamKind;
use aigc_optim::{Adam, AdamW, Optimizer};
use common::{check_three_steps, param, set_grad, values, P0};

/// f32 arithmetic over three steps stays within a few ulps of values near 1.
const ATOL: f64 = 2e-6;

// Adam, lr 0.1, betas (0.9, 0.999), eps 1e-8. On step 1 m̂ = g and v̂ = g², so
// p₁ = p₀ − 0.1·g/(|g| + 1e-8) = (1 − 0.1·0.99999998, −2 + 0.1·0.99999999).
const ADAM: [[f64; 2]; 3] = [
    [0.900000002, -1.900000001],
    [0.8733662987078463, -1.9366103534720749],
    [0.8075551396770898, -1.9781754731467738],
];

// Adam, lr 0.1, betas (0.8, 0.99), L2 decay 0.1 added to g: g₁ = (0.6, −1.2).
const ADAM_L2: [[f64; 2]; 3] = [
    [0.9000000016666666, -1.9000000008333333],
    [0.8594237131132588, -1.9307217188476842],
    [0.7834746542476682, -1.9627095762610227],
];

// AdamW, lr 0.1, decay 0.1: p shrinks by 1 − 0.01 first, so p₁ = (0.99 − 0.1, −1.98 + 0.1) up to eps.
const ADAMW: [[f64; 2]; 3] = [
    [0.890000002, -1.880000001],
    [0.8544662986878463, -1.897810353462075],
    [0.7801104766702113, -1.920397369602153],
];

#[test]
fn adam_three_steps() {
    check_three_steps(&mut Adam::new(0.1), ParamKind::Weight, &ADAM, ATOL);
}

#[test]
fn adam_l2_decay_three_steps() {
    let mut optimizer = Adam::new(0.1).betas(0.8, 0.99).weight_decay(0.1);
    check_three_steps(&mut optimizer, ParamKind::Weight, &ADAM_L2, ATOL);
}

#[test]
fn adam_l2_decay_applies_to_every_kind() {
    let mut optimizer = Adam::new(0.1).betas(0.8, 0.99).weight_decay(0.1);
    check_three_steps(&mut optimizer, ParamKind::Norm, &ADAM_L2, ATOL);
}

#[test]
fn adamw_three_steps() {
    check_three_steps(&mut AdamW::new(0.1, 0.1), ParamKind::Weight, &ADAMW, ATOL);
}

#[test]
fn adamw_default_skips_bias_norm_embedding() {
    // Without decay AdamW is Adam, so these kinds follow the ADAM values.
    for kind in [ParamKind::Bias, ParamKind::Norm, ParamKind::Embedding] {
        check_three_steps(&mut AdamW::new(0.1, 0.1), kind, &ADAM, ATOL);
    }
}

#[test]
fn adamw_decays_embedding_when_asked() {
    let mut optimizer = AdamW::new(0.1, 0.1).decay_kinds(&[ParamKind::Weight, ParamKind::Embedding]);
    check_three_steps(&mut optimizer, ParamKind::Embedding, &ADAMW, ATOL);
    let mut optimizer = AdamW::new(0.1, 0.1).decay_kinds(&[ParamKind::Weight, ParamKind::Embedding]);
    check_three_steps(&mut optimizer, ParamKind::Bias, &ADAM, ATOL);
}

#[test]
fn adamw_empty_decay_kinds_is_adam() {
    let mut optimizer = AdamW::new(0.1, 0.1).decay_kinds(&[]);
    check_three_steps(&mut optimizer, ParamKind::Weight, &ADAM, ATOL);
}

#[test]
fn adamw_mixed_kinds_in_one_step() {
    let weight = param("h.0.mlp.c_fc.weight", &P0, ParamKind::Weight);
    let bias = param("h.0.mlp.c_fc.bias", &P0, ParamKind::Bias);
    set_grad(&weight, &[0.5, -1.0]);
    set_grad(&bias, &[0.5, -1.0]);

    AdamW::new(0.1, 0.1).step(&[weight.clone(), bias.clone()]).unwrap();

    let close = |got: &[f32], want: [f64; 2]| (0..2).all(|i| (f64::from(got[i]) - want[i]).abs() <= ATOL);
    assert!(close(&values(&weight), ADAMW[0]), "weight: {:?}", values(&weight));
    assert!(close(&values(&bias), ADAM[0]), "bias: {:?}", values(&bias));
}

#[test]
fn adam_bias_correction_counts_steps_per_parameter() {
    // `late` gets its first gradient on the optimizer's second step, so its
    // bias correction uses t = 1 and its first update matches a fresh Adam.
    let early = param("early", &P0, ParamKind::Weight);
    let late = param("late", &P0, ParamKind::Weight);
    let mut optimizer = Adam::new(0.1);
    set_grad(&early, &[0.5, -1.0]);
    optimizer.step(&[early.clone(), late.clone()]).unwrap();
    assert_eq!(values(&late), P0.to_vec());

    set_grad(&late, &[0.5, -1.0]);
    early.var.zero_grad();
    optimizer.step(&[early.clone(), late.clone()]).unwrap();

    assert_eq!(values(&late), values(&early));
    assert_eq!(optimizer.state().param_steps["early"], 1);
    assert_eq!(optimizer.state().param_steps["late"], 1);
    assert_eq!(optimizer.steps(), 2);
}

#[test]
fn adamw_large_tensor_matches_small_loop() {
    let n = (1 << 17) + 5;
    let start: Vec<f32> = (0..n).map(|i| (i % 89) as f32 * 0.02 - 0.9).collect();
    let grad: Vec<f32> = (0..n).map(|i| (i % 23) as f32 * 0.3 - 3.0).collect();
    let big = param("big", &start, ParamKind::Weight);
    let mut optimizer = AdamW::new(0.01, 0.1).betas(0.9, 0.95);
    for _ in 0..3 {
        set_grad(&big, &grad);
        optimizer.step(std::slice::from_ref(&big)).unwrap();
    }

    let got = values(&big);
    for i in [0, 7, 16_383, 16_384, n / 2, n - 1] {
        let one = param("one", &[start[i]], ParamKind::Weight);
        let mut small = AdamW::new(0.01, 0.1).betas(0.9, 0.95);
        for _ in 0..3 {
            set_grad(&one, &[grad[i]]);
            small.step(std::slice::from_ref(&one)).unwrap();
        }
        assert_eq!(got[i].to_bits(), values(&one)[0].to_bits(), "element {i}");
    }
}

#[test]
fn adam_invalid_beta_is_error() {
    let p = param("p", &P0, ParamKind::Weight);
    set_grad(&p, &[1.0, 1.0]);
    let err = Adam::new(0.1).betas(1.0, 0.999).step(std::slice::from_ref(&p)).unwrap_err().to_string();
    assert!(err.contains("beta1 1"), "{err}");
    assert_eq!(values(&p), P0.to_vec());
}

#[test]
fn adamw_negative_eps_is_error() {
    let p = param("p", &P0, ParamKind::Weight);
    set_grad(&p, &[1.0, 1.0]);
    let err = AdamW::new(0.1, 0.1).eps(-1e-8).step(std::slice::from_ref(&p)).unwrap_err().to_string();
    assert!(err.contains("eps"), "{err}");
}
