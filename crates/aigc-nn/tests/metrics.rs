use aigc_nn::metrics::{accuracy, perplexity, sparse_categorical_accuracy};
use aigc_tensor::Tensor;

fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).unwrap()
}

fn logits() -> Tensor {
    // argmax per row: 0, 2, 1, 1
    tensor(&[3.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.1, 0.9, 0.5, -1.0, 5.0, 5.0], &[2, 2, 3])
}

#[test]
fn accuracy_with_ids() {
    let ids = tensor(&[0.0, 2.0, 0.0, 0.0], &[2, 2]);
    assert_eq!(accuracy(&logits(), &ids).unwrap(), 0.5);
}

#[test]
fn accuracy_with_one_hot_and_probabilities() {
    let one_hot = Tensor::one_hot(&tensor(&[0.0, 2.0, 1.0, 0.0], &[2, 2]), 3).unwrap();
    assert_eq!(accuracy(&logits(), &one_hot).unwrap(), 0.75);
    let probabilities = tensor(&[0.6, 0.3, 0.1, 0.2, 0.2, 0.6, 0.1, 0.8, 0.1, 0.1, 0.7, 0.2], &[2, 2, 3]);
    assert_eq!(accuracy(&logits(), &probabilities).unwrap(), 1.0);
}

#[test]
fn accuracy_rejects_bad_targets() {
    let message = accuracy(&logits(), &Tensor::zeros(&[4])).unwrap_err().to_string();
    assert!(message.starts_with("accuracy:"), "{message}");
    assert!(message.contains("[2, 2, 3]"), "{message}");
    assert!(message.contains("[4]"), "{message}");
    let message = accuracy(&logits(), &tensor(&[0.0, 3.0, 0.0, 0.0], &[2, 2])).unwrap_err().to_string();
    assert!(message.contains("target 3"), "{message}");
    assert!(message.contains("[0, 1]"), "{message}");
    let message = accuracy(&logits(), &tensor(&[0.0, 0.0, -1.0, 0.0], &[2, 2])).unwrap_err().to_string();
    assert!(message.contains("sparse_categorical_accuracy"), "{message}");
}

#[test]
fn sparse_accuracy_ignores_minus_one() {
    let ids = tensor(&[0.0, -1.0, 0.0, 1.0], &[2, 2]);
    assert!((sparse_categorical_accuracy(&logits(), &ids).unwrap() - 2.0 / 3.0).abs() < 1e-6);
    let none = tensor(&[-1.0; 4], &[2, 2]);
    assert_eq!(sparse_categorical_accuracy(&logits(), &none).unwrap(), 0.0);
}

#[test]
fn sparse_accuracy_rejects_one_hot() {
    let message = sparse_categorical_accuracy(&logits(), &Tensor::zeros(&[2, 2, 3])).unwrap_err().to_string();
    assert!(message.starts_with("sparse_categorical_accuracy:"), "{message}");
    assert!(message.contains("[2, 2, 3]"), "{message}");
}

#[test]
fn perplexity_is_exp_of_crossentropy() {
    assert_eq!(perplexity(0.0), 1.0);
    assert!((perplexity(256f32.ln()) - 256.0).abs() < 1e-3);
}
