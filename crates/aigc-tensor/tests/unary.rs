//! Element-wise functions of one tensor.

mod common;

use aigc_tensor::{gelu_grad_scalar, gelu_scalar, Tensor};
use common::{random, tensor};

fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32) {
    assert_eq!(actual.len(), expected.len());
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!((a - e).abs() <= tolerance, "element {i}: {a} vs expected {e}");
    }
}

#[test]
fn neg_abs_relu() {
    let x = tensor(&[-2.0, -0.0, 0.5, 3.0], &[4]);

    assert_eq!(x.neg().to_vec(), vec![2.0, 0.0, -0.5, -3.0]);
    assert_eq!(x.abs().to_vec(), vec![2.0, 0.0, 0.5, 3.0]);
    assert_eq!(x.relu().to_vec(), vec![0.0, 0.0, 0.5, 3.0]);
}

#[test]
fn relu_keeps_nan() {
    let x = tensor(&[f32::NAN, -1.0], &[2]);

    let out = x.relu().to_vec();

    assert!(out[0].is_nan());
    assert_eq!(out[1], 0.0);
}

#[test]
fn exp_log_sqrt_powf() {
    let x = tensor(&[0.0, 1.0, 4.0], &[3]);

    assert_close(&x.exp().to_vec(), &[1.0, std::f32::consts::E, 54.59815], 1e-4);
    assert_close(&x.sqrt().to_vec(), &[0.0, 1.0, 2.0], 0.0);
    assert_close(&x.powf(2.0).to_vec(), &[0.0, 1.0, 16.0], 1e-6);
    assert_close(&x.add_scalar(1.0).log().to_vec(), &[0.0, 2f32.ln(), 5f32.ln()], 1e-6);
}

#[test]
fn log_and_sqrt_at_domain_edges() {
    let x = tensor(&[0.0, -1.0], &[2]);

    let log = x.log().to_vec();
    assert_eq!(log[0], f32::NEG_INFINITY);
    assert!(log[1].is_nan());
    assert!(x.sqrt().to_vec()[1].is_nan());
}

#[test]
fn tanh_and_sigmoid() {
    let x = tensor(&[-1.0, 0.0, 2.0], &[3]);

    assert_close(&x.tanh().to_vec(), &[-0.7615942, 0.0, 0.9640276], 1e-6);
    assert_close(&x.sigmoid().to_vec(), &[0.26894143, 0.5, 0.8807971], 1e-6);
}

#[test]
fn sigmoid_saturates_without_nan() {
    let x = tensor(&[-1000.0, 1000.0], &[2]);

    assert_eq!(x.sigmoid().to_vec(), vec![0.0, 1.0]);
}

#[test]
fn gelu_matches_tanh_formula() {
    // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), evaluated in f64.
    let inputs = [-3.0f32, -1.0, 0.0, 0.5, 2.0];
    let expected: Vec<f32> = inputs
        .iter()
        .map(|&x| {
            let x = x as f64;
            let inner = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
            (0.5 * x * (1.0 + inner.tanh())) as f32
        })
        .collect();

    let out = tensor(&inputs, &[5]).gelu().to_vec();

    assert_close(&out, &expected, 1e-6);
}

#[test]
fn gelu_grad_matches_central_difference() {
    let h = 1e-3f64;
    for x in [-3.0f32, -1.0, -0.1, 0.0, 0.7, 2.5] {
        let plus = gelu_scalar((x as f64 + h) as f32) as f64;
        let minus = gelu_scalar((x as f64 - h) as f32) as f64;
        let numeric = (plus - minus) / (2.0 * h);

        let analytic = gelu_grad_scalar(x) as f64;

        assert!((analytic - numeric).abs() < 1e-3, "x = {x}: {analytic} vs {numeric}");
    }
}

#[test]
fn unary_on_transposed_view_keeps_logical_order() {
    let x = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);

    let out = x.t().unwrap().neg();

    assert_eq!(out.shape(), &[3, 2]);
    assert_eq!(out.to_vec(), vec![-1.0, -4.0, -2.0, -5.0, -3.0, -6.0]);
}

#[test]
fn unary_on_empty_and_scalar() {
    assert_eq!(Tensor::zeros(&[0, 4]).exp().shape(), &[0, 4]);
    assert_eq!(Tensor::scalar(0.0).exp().to_vec(), vec![1.0]);
}

#[test]
fn map_inplace_large_tensor() {
    // 70_000 elements exceed the parallel threshold of 2^16.
    let x = random(&[70_000], 3);
    let mut doubled = x.clone();

    doubled.map_inplace(|v| 2.0 * v);

    let expected: Vec<f32> = x.to_vec().iter().map(|v| 2.0 * v).collect();
    assert_eq!(doubled.to_vec(), expected);
}
