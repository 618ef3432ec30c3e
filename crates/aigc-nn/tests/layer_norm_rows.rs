//! `layer_norm_rows`, the slice form of `layer_norm` used by inference code.

mod common;

use aigc_autograd::Var;
use aigc_nn::{layer_norm, layer_norm_rows};
use common::randn;

#[test]
fn layer_norm_rows_equals_layer_norm_exactly() {
    let (x, gamma, beta) = (randn(&[3, 7], 2.0, 1), randn(&[7], 1.0, 2), randn(&[7], 1.0, 3));
    let expected = layer_norm(&Var::new(x.clone()), &Var::new(gamma.clone()), Some(&Var::new(beta.clone())), 1e-5).unwrap();
    let mut out = vec![0.0f32; 21];
    layer_norm_rows(x.as_slice().unwrap(), gamma.as_slice().unwrap(), beta.as_slice(), 1e-5, &mut out).unwrap();
    assert_eq!(out, expected.value().to_vec());
}

#[test]
fn layer_norm_rows_rejects_partial_rows() {
    let gamma = vec![1.0f32; 4];
    let mut out = vec![0.0f32; 6];
    let message = layer_norm_rows(&[0.0; 6], &gamma, None, 1e-5, &mut out).unwrap_err().to_string();
    assert!(message.contains("layer_norm"), "{message}");
    let message = layer_norm_rows(&[0.0; 8], &gamma, Some(&[0.0; 3]), 1e-5, &mut [0.0; 8]).unwrap_err().to_string();
    assert!(message.contains("[4, 3]"), "{message}");
}
