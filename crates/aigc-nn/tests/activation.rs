mod common;

use aigc_autograd::{gradcheck, GradcheckOptions, Var};
use aigc_nn::{Module, ReLU, Sigmoid, Softmax, Tanh, GELU};
use aigc_tensor::{gelu_scalar, Tensor};
use common::randn;

fn layers() -> Vec<(&'static str, Box<dyn Module>)> {
    vec![
        ("relu", Box::new(ReLU)),
        ("gelu", Box::new(GELU)),
        ("tanh", Box::new(Tanh)),
        ("sigmoid", Box::new(Sigmoid)),
        ("softmax", Box::new(Softmax)),
    ]
}

#[test]
fn activation_values() {
    let x = Tensor::from_vec(vec![-2.0, -0.5, 0.0, 1.5], &[4]).unwrap();
    let run = |layer: &dyn Module| layer.forward(&Var::new(x.clone())).unwrap().value().to_vec();
    assert_eq!(run(&ReLU), vec![0.0, 0.0, 0.0, 1.5]);
    assert_eq!(run(&GELU), x.to_vec().into_iter().map(gelu_scalar).collect::<Vec<_>>());
    assert_eq!(run(&Tanh), x.tanh().to_vec());
    assert_eq!(run(&Sigmoid), x.sigmoid().to_vec());
    let probabilities = run(&Softmax);
    assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
}

#[test]
fn softmax_normalises_last_axis() {
    let y = Softmax.forward(&Var::new(randn(&[3, 4, 5], 2.0, 1))).unwrap().value();
    let sums = y.sum(-1, false).unwrap();
    assert!(sums.allclose(&Tensor::ones(&[3, 4]), 1e-5, 1e-5));
}

#[test]
fn activation_gradcheck() {
    // values away from 0 so ReLU's kink is not inside the finite-difference step
    let x = Tensor::from_vec(vec![-1.3, -0.4, 0.3, 0.8, 1.7, -2.2], &[2, 3]).unwrap();
    for (name, layer) in layers() {
        if let Err(error) = gradcheck(|v| layer.forward(&v[0]), std::slice::from_ref(&x), GradcheckOptions::default()) {
            panic!("{name}: {error}");
        }
    }
}

#[test]
fn activations_have_no_parameters() {
    for (name, layer) in layers() {
        assert!(layer.parameters().is_empty(), "{name}");
    }
}
