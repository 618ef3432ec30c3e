mod common;

use aigc_autograd::{Result, Var};
use aigc_nn::loss::{categorical_crossentropy, mse, sparse_categorical_crossentropy};
use aigc_tensor::Tensor;
use common::{assert_close, assert_gradients, randn};

fn ids(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).unwrap()
}

/// Cross-entropy from unfused autograd operations, as a reference.
fn composed_crossentropy(logits: &Var, targets: &[f32]) -> Result<Var> {
    let classes = *logits.shape().last().unwrap();
    let log_probs = logits.log_softmax(-1)?.reshape(&[targets.len(), classes])?;
    let mut mask = vec![0.0f32; targets.len() * classes];
    for (row, &t) in targets.iter().enumerate() {
        if t >= 0.0 {
            mask[row * classes + t as usize] = 1.0;
        }
    }
    let counted = targets.iter().filter(|&&t| t >= 0.0).count() as f32;
    let picked = log_probs.mul(&Var::new(Tensor::from_vec(mask, &[targets.len(), classes])?))?;
    Ok(picked.sum_all().mul_scalar(-1.0 / counted))
}

#[test]
fn crossentropy_of_zero_logits_is_log_classes() {
    for classes in [2, 7, 50] {
        let logits = Var::new(Tensor::zeros(&[3, classes]));
        let targets = ids(&[0.0, 1.0, 1.0], &[3]);
        let loss = sparse_categorical_crossentropy(&logits, &targets).unwrap().value().item().unwrap();
        assert!((loss - (classes as f32).ln()).abs() < 1e-6, "C = {classes}: loss {loss}");
    }
}

#[test]
fn sparse_crossentropy_gradcheck_with_ignored_targets() {
    let logits = randn(&[2, 3, 5], 2.0, 1);
    let targets = ids(&[4.0, -1.0, 0.0, 2.0, 2.0, -1.0], &[2, 3]);
    assert_gradients(|v| sparse_categorical_crossentropy(&v[0], &targets), &[logits]);
}

#[test]
fn sparse_crossentropy_ignored_rows_get_no_gradient() {
    let logits = Var::parameter(randn(&[3, 4], 1.0, 2));
    let targets = ids(&[1.0, -1.0, 3.0], &[3]);
    let loss = sparse_categorical_crossentropy(&logits, &targets).unwrap();
    loss.backward().unwrap();
    let grad = logits.grad().unwrap().to_vec();
    assert_eq!(&grad[4..8], &[0.0; 4]);

    // the mean is over the two counted rows only
    let counted_rows =
        Tensor::concat(&[&logits.value().narrow(0, 0, 1).unwrap(), &logits.value().narrow(0, 2, 1).unwrap()], 0);
    let expected = sparse_categorical_crossentropy(&Var::new(counted_rows.unwrap()), &ids(&[1.0, 3.0], &[2])).unwrap();
    assert!((loss.value().item().unwrap() - expected.value().item().unwrap()).abs() < 1e-6);
}

#[test]
fn sparse_crossentropy_all_ignored_is_zero() {
    let logits = Var::parameter(randn(&[2, 3], 1.0, 3));
    let loss = sparse_categorical_crossentropy(&logits, &ids(&[-1.0, -1.0], &[2])).unwrap();
    assert_eq!(loss.value().item().unwrap(), 0.0);
    loss.backward().unwrap();
    assert_eq!(logits.grad().unwrap().to_vec(), vec![0.0; 6]);
}

/// 200 rows of 400 classes cover the parallel path (more than 2¹⁶ elements).
#[test]
fn sparse_crossentropy_matches_composed_ops_on_large_input() {
    let (rows, classes) = (200, 400);
    let logits = Var::parameter(randn(&[rows, classes], 3.0, 4));
    let targets: Vec<f32> = (0..rows).map(|r| if r % 7 == 0 { -1.0 } else { ((r * 37) % classes) as f32 }).collect();

    let fused = sparse_categorical_crossentropy(&logits, &ids(&targets, &[rows])).unwrap();
    fused.backward().unwrap();
    let fused_grad = logits.grad().unwrap();
    logits.zero_grad();
    let reference = composed_crossentropy(&logits, &targets).unwrap();
    reference.backward().unwrap();

    let (a, b) = (fused.value().item().unwrap(), reference.value().item().unwrap());
    assert!((a - b).abs() < 1e-4 * b.abs(), "loss {a} vs {b}");
    assert_close(&fused_grad, &logits.grad().unwrap(), 1e-7, "gradient");
}

#[test]
fn sparse_crossentropy_invalid_target_names_position_and_value() {
    let logits = Var::new(Tensor::zeros(&[2, 3, 4]));
    for (bad, text) in [(4.0, "target 4 "), (1.5, "target 1.5 "), (-2.0, "target -2 "), (f32::NAN, "target NaN ")] {
        let mut values = vec![0.0; 6];
        values[4] = bad; // position [1, 1]
        let message = sparse_categorical_crossentropy(&logits, &ids(&values, &[2, 3])).unwrap_err().to_string();
        assert!(message.starts_with("sparse_categorical_crossentropy:"), "{message}");
        assert!(message.contains(text), "{message}");
        assert!(message.contains("[1, 1]"), "{message}");
        assert!(message.contains("0..4"), "{message}");
    }
}

#[test]
fn sparse_crossentropy_shape_error_names_both_shapes() {
    let logits = Var::new(Tensor::zeros(&[2, 3, 4]));
    let message = sparse_categorical_crossentropy(&logits, &Tensor::zeros(&[2, 4])).unwrap_err().to_string();
    assert!(message.contains("[2, 3, 4]"), "{message}");
    assert!(message.contains("[2, 4]"), "{message}");
    assert!(sparse_categorical_crossentropy(&Var::new(Tensor::scalar(1.0)), &Tensor::scalar(0.0)).is_err());
}

#[test]
fn categorical_crossentropy_gradcheck_distributions() {
    let logits = randn(&[2, 3, 4], 2.0, 5);
    // probabilities, and one row of weights that does not sum to 1
    let mut targets = randn(&[2, 3, 4], 1.0, 6).softmax(-1).unwrap();
    targets.as_slice_mut()[..4].copy_from_slice(&[0.5, 0.0, 1.0, 0.25]);
    assert_gradients(|v| categorical_crossentropy(&v[0], &targets), &[logits]);
}

#[test]
fn categorical_crossentropy_one_hot_equals_sparse() {
    let logits = Var::parameter(randn(&[4, 5], 1.0, 7));
    let labels = ids(&[0.0, 4.0, 2.0, 2.0], &[4]);
    let one_hot = Tensor::one_hot(&labels, 5).unwrap();

    let dense = categorical_crossentropy(&logits, &one_hot).unwrap();
    dense.backward().unwrap();
    let dense_grad = logits.grad().unwrap();
    logits.zero_grad();
    let sparse = sparse_categorical_crossentropy(&logits, &labels).unwrap();
    sparse.backward().unwrap();

    assert!((dense.value().item().unwrap() - sparse.value().item().unwrap()).abs() < 1e-6);
    assert_close(&dense_grad, &logits.grad().unwrap(), 1e-7, "gradient");
}

#[test]
fn categorical_crossentropy_accepts_ids() {
    let logits = Var::parameter(randn(&[2, 3, 5], 1.0, 8));
    let labels = ids(&[0.0, -1.0, 4.0, 1.0, 1.0, 3.0], &[2, 3]);
    let a = categorical_crossentropy(&logits, &labels).unwrap().value().item().unwrap();
    let b = sparse_categorical_crossentropy(&logits, &labels).unwrap().value().item().unwrap();
    assert_eq!(a, b);
}

#[test]
fn categorical_masked_logit_stays_finite() {
    let logits = Var::parameter(ids(&[0.0, f32::NEG_INFINITY, 1.0], &[1, 3]));
    let targets = ids(&[0.5, 0.0, 0.5], &[1, 3]);
    let loss = categorical_crossentropy(&logits, &targets).unwrap();
    assert!(loss.value().item().unwrap().is_finite());
    loss.backward().unwrap();
    assert!(logits.grad().unwrap().to_vec().iter().all(|g| g.is_finite()));
}

#[test]
fn categorical_crossentropy_shape_error_explains_forms() {
    let logits = Var::new(Tensor::zeros(&[2, 3, 4]));
    let message = categorical_crossentropy(&logits, &Tensor::zeros(&[2, 4])).unwrap_err().to_string();
    assert!(message.starts_with("categorical_crossentropy:"), "{message}");
    assert!(message.contains("[2, 3, 4]"), "{message}");
    assert!(message.contains("[2, 4]"), "{message}");
    assert!(message.contains("distributions"), "{message}");
    assert!(message.contains("class ids"), "{message}");
}

#[test]
fn mse_value_and_gradcheck() {
    let p = Var::new(ids(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
    let t = ids(&[1.0, 0.0, 3.0, 7.0], &[2, 2]);
    assert_eq!(mse(&p, &t).unwrap().value().item().unwrap(), (4.0 + 9.0) / 4.0);

    let targets = randn(&[3, 4], 1.0, 9);
    assert_gradients(|v| mse(&v[0], &targets), &[randn(&[3, 4], 1.0, 10)]);
}

#[test]
fn mse_shape_error_names_both_shapes() {
    let message = mse(&Var::new(Tensor::zeros(&[2, 3])), &Tensor::zeros(&[3, 2])).unwrap_err().to_string();
    assert!(message.starts_with("mse:"), "{message}");
    assert!(message.contains("[2, 3]"), "{message}");
    assert!(message.contains("[3, 2]"), "{message}");
}

#[test]
fn losses_are_0d() {
    let logits = Var::new(Tensor::zeros(&[2, 3]));
    let labels = ids(&[0.0, 1.0], &[2]);
    assert!(sparse_categorical_crossentropy(&logits, &labels).unwrap().shape().is_empty());
    assert!(categorical_crossentropy(&logits, &Tensor::zeros(&[2, 3])).unwrap().shape().is_empty());
    assert!(mse(&logits, &Tensor::zeros(&[2, 3])).unwrap().shape().is_empty());
}
