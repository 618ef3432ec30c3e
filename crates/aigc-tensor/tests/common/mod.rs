//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod strided;

use aigc_tensor::{Error, Rng, Tensor};

/// Builds a tensor from row-major values, panicking on a length mismatch.
pub fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).expect("test data fits its shape")
}

/// Draws a tensor of N(0, 1) values from a fixed seed.
pub fn random(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut Rng::seed(seed))
}

/// Asserts that `err` starts with `op:` and names both shapes.
pub fn assert_names_op_and_shapes(err: &Error, op: &str, lhs: &[usize], rhs: &[usize]) {
    let message = err.to_string();
    assert!(message.starts_with(&format!("{op}:")), "message does not start with {op:?}: {message}");
    assert!(message.contains(&format!("{lhs:?}")), "message does not name {lhs:?}: {message}");
    assert!(message.contains(&format!("{rhs:?}")), "message does not name {rhs:?}: {message}");
}

/// Asserts that `err` starts with `op:` and contains `text`.
pub fn assert_error_mentions(err: &Error, op: &str, text: &str) {
    let message = err.to_string();
    assert!(message.starts_with(&format!("{op}:")), "message does not start with {op:?}: {message}");
    assert!(message.contains(text), "message does not contain {text:?}: {message}");
}
