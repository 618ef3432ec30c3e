mod common;

use aigc_autograd::Var;
use aigc_nn::{Dropout, Linear, Module, ParamKind, ReLU, Sequential, Tanh};
use aigc_tensor::{Rng, Tensor};
use common::{assert_gradients, randn};

#[test]
fn sequential_parameter_names_follow_index() {
    let mut rng = Rng::seed(0);
    let model = Sequential::new()
        .add(Linear::new(4, 8, true, &mut rng))
        .add(ReLU)
        .add(Linear::new(8, 8, false, &mut rng))
        .add(Tanh)
        .add(Linear::new(8, 2, true, &mut rng));
    let parameters = model.parameters();
    let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "4.weight", "4.bias"]);
    assert_eq!(parameters[1].kind, ParamKind::Bias);
    assert_eq!(model.num_parameters(), 4 * 8 + 8 + 8 * 8 + 8 * 2 + 2);
}

#[test]
fn sequential_nested_names() {
    let mut rng = Rng::seed(0);
    let inner = Sequential::new().add(Linear::new(2, 2, true, &mut rng));
    let outer = Sequential::new().add(ReLU).add(inner);
    let names: Vec<String> = outer.parameters().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["1.0.weight", "1.0.bias"]);
}

#[test]
fn sequential_gradcheck() {
    let x = randn(&[3, 4], 1.0, 1);
    let w0 = randn(&[5, 4], 0.5, 2);
    let b0 = randn(&[5], 0.5, 3);
    let w1 = randn(&[2, 5], 0.5, 4);
    let b1 = randn(&[2], 0.5, 5);
    assert_gradients(
        |v| {
            let model = Sequential::new()
                .add(Linear { weight: v[1].clone(), bias: Some(v[2].clone()) })
                .add(Tanh)
                .add(Linear { weight: v[3].clone(), bias: Some(v[4].clone()) });
            model.forward(&v[0])
        },
        &[x, w0, b0, w1, b1],
    );
}

#[test]
fn sequential_set_training_recurses() {
    let mut model = Sequential::new().add(Dropout::new(0.5, 0).unwrap()).add(Tanh);
    let x = Var::new(Tensor::ones(&[100]));
    let training = model.forward(&x).unwrap().value().to_vec();
    assert!(training.contains(&0.0));

    model.set_training(false);
    let eval = model.forward(&x).unwrap().value().to_vec();
    assert_eq!(eval, vec![1f32.tanh(); 100]);
}

#[test]
fn sequential_len_push_and_empty() {
    let mut model = Sequential::new();
    assert!(model.is_empty());
    let x = Var::new(Tensor::ones(&[2]));
    assert_eq!(model.forward(&x).unwrap().id(), x.id());

    model.push(ReLU);
    model.push(Tanh);
    assert_eq!(model.len(), 2);
    assert!(!model.is_empty());
    assert_eq!(model.layers().len(), 2);
}

#[test]
fn sequential_forward_error_passes_through() {
    let mut rng = Rng::seed(0);
    let model = Sequential::new().add(Linear::new(4, 3, true, &mut rng)).add(Linear::new(4, 2, true, &mut rng));
    let message = model.forward(&Var::new(Tensor::ones(&[1, 4]))).unwrap_err().to_string();
    assert!(message.starts_with("linear:"), "{message}");
    assert!(message.contains("[1, 3]"), "{message}");
}
