//! The fused `linear` op against the same layer built from matmul and add.

mod common;

use aigc_autograd::Var;
use aigc_nn::linear;
use aigc_tensor::Tensor;
use common::{assert_close, assert_gradients, randn};

/// Returns y and the gradients of x, W and b for `Σ w ⊙ y`, with y computed by `f`.
fn value_and_grads(f: impl Fn(&Var, &Var, &Var) -> Var, inputs: [&Tensor; 3], weights: &Tensor) -> [Tensor; 4] {
    let [x, w, b] = inputs.map(|t| Var::parameter(t.clone()));
    let y = f(&x, &w, &b);
    y.backward_with(weights.clone()).unwrap();
    [y.value(), x.grad().unwrap(), w.grad().unwrap(), b.grad().unwrap()]
}

#[test]
fn linear_matches_matmul_and_add() {
    let (x, w, b) = (randn(&[2, 3, 5], 1.0, 1), randn(&[4, 5], 1.0, 2), randn(&[4], 1.0, 3));
    let weights = randn(&[2, 3, 4], 1.0, 4);
    let fused = value_and_grads(|x, w, b| linear(x, w, Some(b)).unwrap(), [&x, &w, &b], &weights);
    let composed = value_and_grads(
        |x, w, b| x.reshape(&[6, 5]).unwrap().matmul(&w.t().unwrap()).unwrap().add(b).unwrap().reshape(&[2, 3, 4]).unwrap(),
        [&x, &w, &b],
        &weights,
    );
    for (name, (f, c)) in ["y", "dx", "dw", "db"].iter().zip(fused.iter().zip(&composed)) {
        assert_close(f, c, 1e-5, name);
    }
}

#[test]
fn linear_gradcheck_with_bias() {
    let inputs = [randn(&[2, 3, 4], 1.0, 5), randn(&[3, 4], 1.0, 6), randn(&[3], 1.0, 7)];
    assert_gradients(|v| linear(&v[0], &v[1], Some(&v[2])), &inputs);
}

#[test]
fn linear_gradcheck_without_bias() {
    let inputs = [randn(&[5, 2], 1.0, 8), randn(&[3, 2], 1.0, 9)];
    assert_gradients(|v| linear(&v[0], &v[1], None), &inputs);
}

#[test]
fn linear_skips_gradients_of_constants() {
    let x = Var::new(randn(&[2, 3], 1.0, 10));
    let w = Var::parameter(randn(&[4, 3], 1.0, 11));
    let y = linear(&x, &w, None).unwrap();
    y.sum_all().backward().unwrap();
    assert!(x.grad().is_none());
    assert_eq!(w.grad().unwrap().shape(), &[4, 3]);
}

#[test]
fn linear_rejects_bad_shapes() {
    let x = Var::new(Tensor::ones(&[2, 3]));
    let message = linear(&x, &Var::new(Tensor::ones(&[4, 5])), None).unwrap_err().to_string();
    assert!(message.contains("linear"), "{message}");
    assert!(message.contains("[2, 3]"), "{message}");
    assert!(message.contains("[4, 5]"), "{message}");
    let bias = Var::new(Tensor::ones(&[5]));
    let message = linear(&x, &Var::new(Tensor::ones(&[4, 3])), Some(&bias)).unwrap_err().to_string();
    assert!(message.contains("[4, 3]"), "{message}");
    assert!(message.contains("[5]"), "{message}");
}
