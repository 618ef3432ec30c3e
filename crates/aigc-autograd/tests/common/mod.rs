//! Helpers shared by the integration tests: seeded inputs and a gradcheck
//! wrapper with the default options.
#![allow(dead_code)]

use aigc_autograd::{gradcheck, GradcheckOptions, GradcheckReport, Result, Var};
use aigc_tensor::{Rng, Tensor};

/// Builds a tensor from row-major values, panicking on a length mismatch.
pub fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).expect("test data fits its shape")
}

/// Draws a tensor from N(0, 1) with a fixed seed.
pub fn random(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut Rng::seed(seed))
}

/// Draws a tensor uniformly from [low, high) with a fixed seed.
pub fn uniform(shape: &[usize], low: f32, high: f32, seed: u64) -> Tensor {
    Tensor::rand_uniform(shape, low, high, &mut Rng::seed(seed))
}

/// Draws values of either sign with magnitude in [0.2, 1.5), for functions that
/// have a kink or a pole at 0. The margin is 20 times the default gradcheck
/// step, so a finite difference never straddles 0.
pub fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::seed(seed);
    let count: usize = shape.iter().product();
    let values: Vec<f32> = (0..count)
        .map(|_| {
            let magnitude = 0.2 + 1.3 * rng.uniform();
            if rng.uniform() < 0.5 {
                -magnitude
            } else {
                magnitude
            }
        })
        .collect();
    tensor(&values, shape)
}

/// Builds distinct values 0.1 apart in a shuffled order, so the maximum of every
/// lane is unique and stays unique under a gradcheck step of 0.01.
pub fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let count: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..count).map(|i| i as f32 * 0.1 - 0.05 * count as f32).collect();
    Rng::seed(seed).shuffle(&mut values);
    tensor(&values, shape)
}

/// Runs [`gradcheck`] with the default step and tolerances.
pub fn check(f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor]) -> Result<GradcheckReport> {
    gradcheck(f, inputs, GradcheckOptions::default())
}

/// Asserts that two tensors have the same shape and values within 1e-5.
pub fn assert_close(actual: &Tensor, expected: &Tensor) {
    assert_eq!(actual.shape(), expected.shape(), "shapes differ");
    assert!(
        actual.allclose(expected, 1e-5, 1e-5),
        "values differ:\n actual   {:?}\n expected {:?}",
        actual.to_vec(),
        expected.to_vec()
    );
}

/// Returns the gradient stored on `var`, panicking if there is none.
pub fn grad_of(var: &Var) -> Tensor {
    var.grad().expect("backward stored a gradient on this variable")
}
