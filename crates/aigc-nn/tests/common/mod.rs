//! Helpers shared by the aigc-nn integration tests.
#![allow(dead_code)]

use aigc_autograd::{gradcheck, GradcheckOptions, Result, Var};
use aigc_tensor::{Rng, Tensor};

/// Draws a tensor from N(0, std²) with its own seed.
pub fn randn(shape: &[usize], std: f32, seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, std, &mut Rng::seed(seed))
}

/// Runs gradcheck with the default step and tolerances, panicking with its
/// message (which names the input, the element and both values) on failure.
pub fn assert_gradients(f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor]) {
    if let Err(error) = gradcheck(f, inputs, GradcheckOptions::default()) {
        panic!("{error}");
    }
}

/// Asserts that two tensors have the same shape and agree within `tolerance`.
pub fn assert_close(actual: &Tensor, expected: &Tensor, tolerance: f32, label: &str) {
    assert_eq!(actual.shape(), expected.shape(), "{label}: shapes differ");
    let difference = actual.max_abs_diff(expected);
    assert!(difference <= tolerance, "{label}: max |difference| = {difference} > {tolerance}");
}
