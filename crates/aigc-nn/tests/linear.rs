mod common;

use aigc_autograd::Var;
use aigc_nn::{Dense, Init, Linear, Module, ParamKind};
use aigc_tensor::{Rng, Tensor};
use common::{assert_close, assert_gradients, randn};

#[test]
fn linear_matches_manual_product() {
    let weight = Tensor::from_vec(vec![1.0, 2.0, 3.0, -1.0, 0.0, 1.0], &[2, 3]).unwrap();
    let bias = Tensor::from_vec(vec![0.5, -0.5], &[2]).unwrap();
    let layer = Linear { weight: Var::parameter(weight), bias: Some(Var::parameter(bias)) };
    let x = Tensor::from_vec(vec![1.0, 1.0, 1.0, 2.0, 0.0, -1.0], &[2, 3]).unwrap();

    let y = layer.forward(&Var::new(x)).unwrap().value();

    // row 0: (6, 0) + b; row 1: (2 - 3, -2 - 1) + b
    assert_eq!(y.to_vec(), vec![6.5, -0.5, -0.5, -3.5]);
}

#[test]
fn linear_gradcheck_3d_input() {
    let x = randn(&[2, 3, 4], 1.0, 1);
    let weight = randn(&[5, 4], 0.5, 2);
    let bias = randn(&[5], 0.5, 3);
    assert_gradients(
        |v| {
            let layer = Linear { weight: v[1].clone(), bias: Some(v[2].clone()) };
            layer.forward(&v[0])
        },
        &[x, weight, bias],
    );
}

#[test]
fn linear_gradcheck_without_bias() {
    let x = randn(&[3, 4], 1.0, 4);
    let weight = randn(&[2, 4], 0.5, 5);
    assert_gradients(|v| Linear { weight: v[1].clone(), bias: None }.forward(&v[0]), &[x, weight]);
}

#[test]
fn linear_keeps_leading_axes() {
    let layer = Linear::new(3, 7, true, &mut Rng::seed(0));
    let cases: [&[usize]; 4] = [&[3], &[5, 3], &[2, 4, 3], &[0, 3]];
    for shape in cases {
        let y = layer.forward(&Var::new(Tensor::ones(shape))).unwrap();
        let mut expected = shape.to_vec();
        *expected.last_mut().unwrap() = 7;
        assert_eq!(y.shape(), expected, "input shape {shape:?}");
    }
}

#[test]
fn linear_error_names_op_and_shapes() {
    let layer = Linear::new(3, 2, true, &mut Rng::seed(0));
    let message = layer.forward(&Var::new(Tensor::ones(&[4, 5]))).unwrap_err().to_string();
    assert!(message.starts_with("linear:"), "{message}");
    assert!(message.contains("[4, 5]"), "{message}");
    assert!(message.contains("[2, 3]"), "{message}");
}

#[test]
fn linear_rejects_0d_input() {
    let layer = Linear::new(1, 1, false, &mut Rng::seed(0));
    assert!(layer.forward(&Var::new(Tensor::scalar(1.0))).is_err());
}

#[test]
fn linear_parameter_names_and_kinds() {
    let layer = Linear::new(3, 2, true, &mut Rng::seed(0));
    let parameters = layer.parameters();
    let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(parameters[0].kind, ParamKind::Weight);
    assert_eq!(parameters[1].kind, ParamKind::Bias);
    assert_eq!(parameters[0].var.shape(), vec![2, 3]);
    assert_eq!(parameters[1].var.value().to_vec(), vec![0.0, 0.0]);
    assert_eq!(layer.num_parameters(), 8);

    let no_bias = Linear::new(3, 2, false, &mut Rng::seed(0));
    assert_eq!(no_bias.parameters().len(), 1);
}

#[test]
fn linear_with_init_and_dense_alias() {
    let layer: Dense = Linear::with_init(4, 3, true, Init::Ones, &mut Rng::seed(0));
    assert_eq!(layer.weight.value().to_vec(), vec![1.0; 12]);
    assert_eq!((layer.in_features(), layer.out_features()), (4, 3));
    let y = layer.forward(&Var::new(Tensor::ones(&[1, 4]))).unwrap().value();
    assert_close(&y, &Tensor::full(&[1, 3], 4.0), 0.0, "ones weight");
}
