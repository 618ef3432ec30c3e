//! Helpers shared by the optimizer tests.
#![allow(dead_code)]

use aigc_autograd::{Tensor, Var};
use aigc_nn::{ParamKind, Parameter};
use aigc_optim::Optimizer;

/// The starting parameter of the hand-computed cases (see `reference/expected_values.py`).
pub const P0: [f32; 2] = [1.0, -2.0];

/// The gradient of each of the three hand-computed steps.
pub const GRADS: [[f32; 2]; 3] = [[0.5, -1.0], [-0.25, 2.0], [1.0, 0.5]];

/// Creates a parameter of `kind` with `values` as a 1-D tensor.
pub fn param(name: &str, values: &[f32], kind: ParamKind) -> Parameter {
    let tensor = Tensor::from_vec(values.to_vec(), &[values.len()]).unwrap();
    Parameter::new(name, Var::parameter(tensor), kind)
}

/// Sets the gradient of `param` to `values`, with the parameter's shape.
pub fn set_grad(param: &Parameter, values: &[f32]) {
    let tensor = Tensor::from_vec(values.to_vec(), &param.var.shape()).unwrap();
    param.var.set_grad(Some(tensor));
}

/// Copies out the parameter's current values.
pub fn values(param: &Parameter) -> Vec<f32> {
    param.var.value().to_vec()
}

/// Runs the three hand-computed steps and checks the parameter after each
/// against `expected` to within `atol`.
pub fn check_three_steps(optimizer: &mut dyn Optimizer, kind: ParamKind, expected: &[[f64; 2]; 3], atol: f64) {
    let p = param("p", &P0, kind);
    for (step, (grad, want)) in GRADS.iter().zip(expected).enumerate() {
        set_grad(&p, grad);
        optimizer.step(std::slice::from_ref(&p)).unwrap();
        let got = values(&p);
        for i in 0..2 {
            let diff = (f64::from(got[i]) - want[i]).abs();
            assert!(diff <= atol, "step {}, element {i}: got {}, expected {}, diff {diff:e}", step + 1, got[i], want[i]);
        }
    }
}
