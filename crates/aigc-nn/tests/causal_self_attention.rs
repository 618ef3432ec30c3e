mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aigc_autograd::{Result, Var};
use aigc_nn::{AttentionKernel, CausalSelfAttention, Init, Linear, Module, NaiveAttention, ParamKind};
use aigc_tensor::{Rng, Tensor};
use common::{assert_gradients, randn};

fn layer(seed: u64) -> CausalSelfAttention {
    CausalSelfAttention::new(8, 2, true, 0.0, Init::Normal { std: 0.02 }, &mut Rng::seed(seed)).unwrap()
}

/// Copies `base` with the given parameters in place of its own.
fn with_parameters(base: &CausalSelfAttention, v: &[Var]) -> CausalSelfAttention {
    let mut attn = base.clone();
    attn.c_attn = Linear { weight: v[0].clone(), bias: Some(v[1].clone()) };
    attn.c_proj = Linear { weight: v[2].clone(), bias: Some(v[3].clone()) };
    attn
}

#[test]
fn causal_self_attention_gradcheck_end_to_end() {
    // B 2, T 5, C 8, H 2; weights larger than the N(0, 0.02) init so the
    // attention is far from uniform
    let base = layer(0);
    let inputs = [
        randn(&[2, 5, 8], 1.0, 1),
        randn(&[24, 8], 0.4, 2),
        randn(&[24], 0.1, 3),
        randn(&[8, 8], 0.4, 4),
        randn(&[8], 0.1, 5),
    ];
    assert_gradients(|v| with_parameters(&base, &v[1..]).forward(&v[0]), &inputs);
}

#[test]
fn causal_self_attention_ignores_future_positions() {
    let attn = with_parameters(
        &layer(0),
        &[
            Var::new(randn(&[24, 8], 0.4, 6)),
            Var::new(randn(&[24], 0.1, 7)),
            Var::new(randn(&[8, 8], 0.4, 8)),
            Var::new(randn(&[8], 0.1, 9)),
        ],
    );
    let x = randn(&[1, 5, 8], 1.0, 10);
    let mut changed = x.clone();
    let values = changed.as_slice_mut();
    for c in 0..8 {
        values[3 * 8 + c] += 1.0; // position 3
    }
    let y = attn.forward(&Var::new(x)).unwrap().value().to_vec();
    let y_changed = attn.forward(&Var::new(changed)).unwrap().value().to_vec();
    assert_eq!(&y[..3 * 8], &y_changed[..3 * 8], "positions 0..3 must not see position 3");
    assert_ne!(&y[3 * 8..], &y_changed[3 * 8..]);
}

#[test]
fn causal_self_attention_parameter_names() {
    let attn = layer(0);
    let parameters = attn.parameters();
    let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"]);
    let kinds: Vec<ParamKind> = parameters.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ParamKind::Weight, ParamKind::Bias, ParamKind::Weight, ParamKind::Bias]);
    assert_eq!(parameters[0].var.shape(), vec![24, 8]);
    assert_eq!(parameters[2].var.shape(), vec![8, 8]);
}

#[test]
fn causal_self_attention_init() {
    let attn = CausalSelfAttention::new(64, 4, true, 0.0, Init::Zeros, &mut Rng::seed(0)).unwrap();
    let weights = attn.c_attn.weight.value().to_vec();
    let std = (weights.iter().map(|v| v * v).sum::<f32>() / weights.len() as f32).sqrt();
    assert!((std - 0.02).abs() < 0.002, "c_attn std {std}");
    assert_eq!(attn.c_proj.weight.value().to_vec(), vec![0.0; 64 * 64]);
    assert_eq!(attn.head_size(), 16);
}

#[test]
fn causal_self_attention_rejects_indivisible_heads() {
    for (n_embd, n_head) in [(10, 3), (8, 0)] {
        let error = CausalSelfAttention::new(n_embd, n_head, true, 0.0, Init::Zeros, &mut Rng::seed(0)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(&format!("n_embd = {n_embd}")), "{message}");
        assert!(message.contains(&format!("n_head = {n_head}")), "{message}");
    }
}

#[test]
fn causal_self_attention_rejects_bad_input_shape() {
    let message = layer(0).forward(&Var::new(Tensor::ones(&[2, 5, 6]))).unwrap_err().to_string();
    assert!(message.starts_with("causal_self_attention:"), "{message}");
    assert!(message.contains("[2, 5, 6]"), "{message}");
}

struct CountingKernel(AtomicUsize);

impl AttentionKernel for CountingKernel {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn attend(&self, q: &Var, k: &Var, v: &Var, causal: bool) -> Result<Var> {
        self.0.fetch_add(1, Ordering::Relaxed);
        NaiveAttention.attend(q, k, v, causal)
    }
}

#[test]
fn causal_self_attention_uses_given_kernel() {
    let kernel = Arc::new(CountingKernel(AtomicUsize::new(0)));
    let attn = layer(0).with_kernel(kernel.clone());
    assert_eq!(attn.kernel.name(), "counting");
    let x = Var::new(randn(&[1, 3, 8], 1.0, 11));
    let expected = layer(0).with_kernel(Arc::new(NaiveAttention)).forward(&x).unwrap().value();
    let y = attn.forward(&x).unwrap().value();
    assert_eq!(kernel.0.load(Ordering::Relaxed), 1);
    assert_eq!(y.to_vec(), expected.to_vec());
}

#[test]
fn causal_self_attention_steps_compose_forward() {
    let attn = layer(3);
    let x = Var::new(randn(&[2, 4, 8], 1.0, 12));
    let (q, k, v) = attn.project_qkv(&x).unwrap();
    assert_eq!(q.shape(), vec![2, 2, 4, 4]);
    let y = attn.project_output(&attn.kernel.attend(&q, &k, &v, true).unwrap()).unwrap();
    assert_eq!(y.value().to_vec(), attn.forward(&x).unwrap().value().to_vec());
}

#[test]
fn causal_self_attention_set_training_switches_dropouts() {
    let mut attn = CausalSelfAttention::new(8, 2, true, 0.5, Init::Normal { std: 0.02 }, &mut Rng::seed(0)).unwrap();
    assert!(attn.attn_dropout.is_active());
    assert!(attn.resid_dropout.is_active());
    attn.set_training(false);
    assert!(!attn.attn_dropout.is_active());
    assert!(!attn.resid_dropout.is_active());
    let x = Var::new(randn(&[1, 3, 8], 1.0, 13));
    let a = attn.forward(&x).unwrap().value();
    let b = attn.forward(&x).unwrap().value();
    assert_eq!(a.to_vec(), b.to_vec());
}
