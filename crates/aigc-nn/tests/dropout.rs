use aigc_autograd::Var;
use aigc_nn::{Dropout, Module, ReLU, Sequential};
use aigc_tensor::Tensor;

#[test]
fn dropout_preserves_mean_and_drop_rate() {
    for p in [0.1, 0.3, 0.5, 0.9] {
        let dropout = Dropout::new(p, 7).unwrap();
        let y = dropout.forward(&Var::new(Tensor::ones(&[100_000]))).unwrap().value().to_vec();
        let mean = y.iter().sum::<f32>() / y.len() as f32;
        let dropped = y.iter().filter(|&&v| v == 0.0).count() as f32 / y.len() as f32;
        assert!((mean - 1.0).abs() < 0.05, "p = {p}: mean {mean}");
        assert!((dropped - p).abs() < 0.01, "p = {p}: dropped fraction {dropped}");
        let scale = 1.0 / (1.0 - p);
        assert!(
            y.iter().all(|&v| v == 0.0 || (v - scale).abs() < 1e-6),
            "p = {p}: survivors must be scaled by {scale}"
        );
    }
}

#[test]
fn dropout_eval_mode_is_identity() {
    let mut dropout = Dropout::new(0.5, 1).unwrap();
    dropout.set_training(false);
    assert!(!dropout.is_training());
    let x = Var::new(Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]).unwrap());
    let y = dropout.forward(&x).unwrap();
    assert_eq!(y.id(), x.id());
}

#[test]
fn dropout_zero_p_is_identity() {
    let dropout = Dropout::new(0.0, 1).unwrap();
    assert!(!dropout.is_active());
    let x = Var::new(Tensor::ones(&[10]));
    assert_eq!(dropout.forward(&x).unwrap().id(), x.id());
}

#[test]
fn dropout_validates_p() {
    for p in [-0.1, 1.0, 1.5, f32::NAN] {
        let message = Dropout::new(p, 0).unwrap_err().to_string();
        assert!(message.starts_with("dropout:"), "{message}");
        assert!(message.contains("[0, 1)"), "{message}");
    }
}

#[test]
fn dropout_gradient_uses_same_mask() {
    let dropout = Dropout::new(0.5, 3).unwrap();
    let x = Var::parameter(Tensor::ones(&[1000]));
    let y = dropout.forward(&x).unwrap();
    y.sum_all().backward().unwrap();
    // with x = 1, y = mask, and ∂Σy/∂x = mask
    assert_eq!(x.grad().unwrap().to_vec(), y.value().to_vec());
}

#[test]
fn dropout_is_reproducible_from_seed() {
    let x = Var::new(Tensor::ones(&[64]));
    let a = Dropout::new(0.5, 11).unwrap().forward(&x).unwrap().value();
    let b = Dropout::new(0.5, 11).unwrap().forward(&x).unwrap().value();
    assert_eq!(a.to_vec(), b.to_vec());

    // consecutive calls draw new masks
    let dropout = Dropout::new(0.5, 11).unwrap();
    let first = dropout.forward(&x).unwrap().value();
    let second = dropout.forward(&x).unwrap().value();
    assert_ne!(first.to_vec(), second.to_vec());
}

#[test]
fn dropout_generator_state_restores_masks() {
    let x = Var::new(Tensor::ones(&[64]));
    let dropout = Dropout::new(0.5, 11).unwrap();
    let generators = dropout.generators();
    assert_eq!(generators.len(), 1);
    assert_eq!(generators[0].name, "rng");

    let saved = generators[0].state();
    let first = dropout.forward(&x).unwrap().value().to_vec();
    // Another layer with another seed draws the first layer's mask once it gets the saved state.
    let other = Dropout::new(0.5, 99).unwrap();
    other.generators()[0].set_state(saved);
    assert_eq!(other.forward(&x).unwrap().value().to_vec(), first);
}

#[test]
fn dropout_clone_has_its_own_generator() {
    let x = Var::new(Tensor::ones(&[64]));
    let dropout = Dropout::new(0.5, 11).unwrap();
    let copy = dropout.clone();
    let from_original = dropout.forward(&x).unwrap().value().to_vec();
    // The copy did not advance when the original drew.
    assert_eq!(copy.forward(&x).unwrap().value().to_vec(), from_original);
}

#[test]
fn sequential_names_its_generators() {
    let model = Sequential::new().add(Dropout::new(0.1, 1).unwrap()).add(ReLU).add(Dropout::new(0.2, 2).unwrap());
    let names: Vec<String> = model.generators().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["0.rng", "2.rng"]);
}
