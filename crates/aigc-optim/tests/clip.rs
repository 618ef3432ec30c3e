//! Global-norm gradient clipping.

mod common;

use aigc_autograd::Tensor;
use aigc_nn::{ParamKind, Parameter};
use aigc_optim::{clip_grad_norm, grad_norm};
use common::{param, set_grad};

fn grad_of(param: &Parameter) -> Vec<f32> {
    param.var.grad().unwrap().to_vec()
}

/// Two parameters whose gradients (3, 0) and (0, 4) have global norm 5.
fn two_params() -> [Parameter; 2] {
    let a = param("a", &[0.0, 0.0], ParamKind::Weight);
    let b = param("b", &[0.0, 0.0], ParamKind::Bias);
    set_grad(&a, &[3.0, 0.0]);
    set_grad(&b, &[0.0, 4.0]);
    [a, b]
}

#[test]
fn clip_returns_norm_before_clipping() {
    let params = two_params();
    assert_eq!(clip_grad_norm(&params, 1.0).unwrap(), 5.0);
    let after = grad_norm(&params);
    assert!((after - 1.0).abs() < 1e-6, "norm after clipping {after}");
}

#[test]
fn clip_scales_all_grads_together() {
    let params = two_params();
    clip_grad_norm(&params, 2.5).unwrap();
    // Each gradient is multiplied by 2.5 / (5 + 1e-6).
    let scale = (2.5f64 / (5.0 + 1e-6)) as f32;
    assert_eq!(grad_of(&params[0]), vec![3.0 * scale, 0.0]);
    assert_eq!(grad_of(&params[1]), vec![0.0, 4.0 * scale]);
}

#[test]
fn clip_is_noop_under_max_norm() {
    let params = two_params();
    assert_eq!(clip_grad_norm(&params, 10.0).unwrap(), 5.0);
    assert_eq!(grad_of(&params[0]), vec![3.0, 0.0]);
    assert_eq!(grad_of(&params[1]), vec![0.0, 4.0]);
}

#[test]
fn clip_at_exact_norm_scales_by_epsilon() {
    // max_norm / (norm + 1e-6) is just below 1, so PyTorch scales here too.
    let params = two_params();
    clip_grad_norm(&params, 5.0).unwrap();
    let scale = (5.0f64 / (5.0 + 1e-6)) as f32;
    assert_eq!(grad_of(&params[0])[0], 3.0 * scale);
}

#[test]
fn clip_infinite_max_norm_only_measures() {
    let params = two_params();
    assert_eq!(clip_grad_norm(&params, f32::INFINITY).unwrap(), 5.0);
    assert_eq!(grad_of(&params[0]), vec![3.0, 0.0]);
}

#[test]
fn clip_nan_norm_passes_through_unscaled() {
    let params = two_params();
    set_grad(&params[1], &[f32::NAN, 4.0]);
    let norm = clip_grad_norm(&params, 1.0).unwrap();
    assert!(norm.is_nan(), "norm {norm}");
    assert_eq!(grad_of(&params[0]), vec![3.0, 0.0]);
}

#[test]
fn clip_infinite_norm_passes_through_unscaled() {
    let params = two_params();
    set_grad(&params[0], &[f32::INFINITY, 0.0]);
    assert_eq!(clip_grad_norm(&params, 1.0).unwrap(), f32::INFINITY);
    assert_eq!(grad_of(&params[1]), vec![0.0, 4.0]);
}

#[test]
fn clip_overflowing_f32_norm_accumulates_in_f64() {
    // 1e20² overflows f32 but not f64, so the norm comes out finite.
    let p = param("p", &[0.0, 0.0], ParamKind::Weight);
    set_grad(&p, &[3e20, 4e20]);
    let norm = clip_grad_norm(std::slice::from_ref(&p), 1.0).unwrap();
    assert!((norm / 5e20 - 1.0).abs() < 1e-6, "norm {norm}");
    let clipped = grad_of(&p);
    assert!((clipped[0] - 0.6).abs() < 1e-6, "{clipped:?}");
    assert!((clipped[1] - 0.8).abs() < 1e-6, "{clipped:?}");
}

#[test]
fn clip_skips_parameters_without_grad() {
    let [a, b] = two_params();
    b.var.zero_grad();
    assert_eq!(clip_grad_norm(&[a, b.clone()], 1.0).unwrap(), 3.0);
    assert!(b.var.grad().is_none());
}

#[test]
fn clip_counts_tied_parameter_once() {
    let [a, _] = two_params();
    let tied = Parameter::new("lm_head.weight", a.var.clone(), ParamKind::Weight);
    assert_eq!(clip_grad_norm(&[a.clone(), tied], 1.0).unwrap(), 3.0);
    let scale = (1.0f64 / (3.0 + 1e-6)) as f32;
    assert_eq!(grad_of(&a), vec![3.0 * scale, 0.0]);
}

#[test]
fn clip_no_grads_returns_zero() {
    let p = param("p", &[1.0, 2.0], ParamKind::Weight);
    assert_eq!(clip_grad_norm(std::slice::from_ref(&p), 1.0).unwrap(), 0.0);
}

#[test]
fn clip_large_gradient_norm() {
    // Above the parallel threshold the squares are summed in chunks.
    let n = (1 << 17) + 1;
    let p = param("p", &vec![0.0; n], ParamKind::Weight);
    p.var.set_grad(Some(Tensor::full(&[n], 0.5)));
    let norm = clip_grad_norm(std::slice::from_ref(&p), 1.0).unwrap();
    let expected = (n as f64 * 0.25).sqrt();
    assert!((f64::from(norm) - expected).abs() < 1e-3, "norm {norm}, expected {expected}");
    assert!((grad_norm(std::slice::from_ref(&p)) - 1.0).abs() < 1e-5);
}

#[test]
fn clip_invalid_max_norm_is_error() {
    let params = two_params();
    for max_norm in [0.0, -1.0, f32::NAN] {
        let err = clip_grad_norm(&params, max_norm).unwrap_err().to_string();
        assert!(err.contains("clip_grad_norm"), "{err}");
        assert!(err.contains(&format!("invalid max_norm {max_norm}")), "{err}");
    }
    assert_eq!(grad_of(&params[0]), vec![3.0, 0.0]);
}
