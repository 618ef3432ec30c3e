mod common;

use aigc_autograd::Var;
use aigc_nn::{Init, Linear, Mlp, Module};
use aigc_tensor::{Rng, Tensor};
use common::{assert_gradients, randn};

#[test]
fn mlp_gradcheck() {
    let base = Mlp::new(4, 16, true, 0.0, Init::Zeros, &mut Rng::seed(0)).unwrap();
    let inputs = [
        randn(&[2, 3, 4], 1.0, 1),
        randn(&[16, 4], 0.5, 2),
        randn(&[16], 0.1, 3),
        randn(&[4, 16], 0.5, 4),
        randn(&[4], 0.1, 5),
    ];
    assert_gradients(
        |v| {
            let mut mlp = base.clone();
            mlp.c_fc = Linear { weight: v[1].clone(), bias: Some(v[2].clone()) };
            mlp.c_proj = Linear { weight: v[3].clone(), bias: Some(v[4].clone()) };
            mlp.forward(&v[0])
        },
        &inputs,
    );
}

#[test]
fn mlp_is_fc_gelu_proj() {
    let mlp = Mlp::new(8, 32, true, 0.0, Init::Normal { std: 0.5 }, &mut Rng::seed(1)).unwrap();
    let x = Var::new(randn(&[3, 8], 1.0, 6));
    let expected = mlp.c_proj.forward(&mlp.c_fc.forward(&x).unwrap().gelu()).unwrap().value();
    assert_eq!(mlp.forward(&x).unwrap().value().to_vec(), expected.to_vec());
}

#[test]
fn mlp_parameter_names_and_shapes() {
    let mlp = Mlp::new(8, 32, true, 0.1, Init::Zeros, &mut Rng::seed(0)).unwrap();
    let parameters = mlp.parameters();
    let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"]);
    assert_eq!(parameters[0].var.shape(), vec![32, 8]);
    assert_eq!(parameters[2].var.shape(), vec![8, 32]);
    assert_eq!(parameters[2].var.value().to_vec(), vec![0.0; 256]);
}

#[test]
fn mlp_rejects_invalid_dropout() {
    assert!(Mlp::new(8, 32, true, 1.0, Init::Zeros, &mut Rng::seed(0)).is_err());
}

#[test]
fn mlp_eval_mode_disables_dropout() {
    let mut mlp = Mlp::new(4, 8, true, 0.5, Init::Normal { std: 0.5 }, &mut Rng::seed(0)).unwrap();
    mlp.set_training(false);
    let x = Var::new(Tensor::ones(&[2, 4]));
    assert_eq!(mlp.forward(&x).unwrap().value().to_vec(), mlp.forward(&x).unwrap().value().to_vec());
}
