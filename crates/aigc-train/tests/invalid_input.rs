//! Invalid arguments give errors that name the value and the fix, and never panic.

mod common;

use aigc_tensor::Tensor;
use aigc_train::{FitOptions, StepOptions, TensorBatches, TrainError};
use common::{mlp, xor};

fn compiled_mlp() -> aigc_train::models::Sequential {
    let mut model = mlp(2, 4, 2, 0);
    model.compile("sgd", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    model
}

#[test]
fn unknown_optimizer_lists_valid_names() {
    let mut model = mlp(2, 4, 2, 0);
    let error = model.compile("adamx", "mse", &[]).unwrap_err();
    assert!(matches!(error, TrainError::UnknownName { kind: "optimizer", .. }), "{error:?}");
    assert_eq!(error.to_string(), r#"unknown optimizer "adamx" (valid names: sgd, adam, adamw)"#);
}

#[test]
fn unknown_loss_lists_valid_names() {
    let mut model = mlp(2, 4, 2, 0);
    let error = model.compile("adam", "crossentropy", &[]).unwrap_err().to_string();
    assert!(error.contains(r#"unknown loss "crossentropy""#), "{error}");
    assert!(error.contains("categorical_crossentropy, sparse_categorical_crossentropy, mse"), "{error}");
}

#[test]
fn unknown_metric_lists_valid_names() {
    let mut model = mlp(2, 4, 2, 0);
    let error = model.compile("adam", "mse", &["f1"]).unwrap_err().to_string();
    assert!(error.contains(r#"unknown metric "f1""#), "{error}");
    assert!(error.contains("accuracy, sparse_categorical_accuracy, perplexity"), "{error}");
}

#[test]
fn duplicate_metric_is_rejected() {
    let mut model = mlp(2, 4, 2, 0);
    let error = model.compile("adam", "mse", &["accuracy", "Accuracy"]).unwrap_err().to_string();
    assert!(error.contains("listed twice"), "{error}");
}

#[test]
fn failed_compile_keeps_model_uncompiled() {
    let mut model = mlp(2, 4, 2, 0);
    assert!(model.compile("adam", "nope", &[]).is_err());
    assert!(!model.is_compiled());
}

#[test]
fn fit_before_compile_fails() {
    let (x, y) = xor();
    let mut model = mlp(2, 4, 2, 0);
    let error = model.fit(&x, &y, 1, 2).unwrap_err();
    assert!(matches!(error, TrainError::NotCompiled { op: "fit" }));
    assert!(error.to_string().contains("call compile() before fit()"), "{error}");
}

#[test]
fn evaluate_before_compile_fails() {
    let (x, y) = xor();
    let model = mlp(2, 4, 2, 0);
    let error = model.evaluate(&x, &y).unwrap_err().to_string();
    assert!(error.contains("call compile() before evaluate()"), "{error}");
}

#[test]
fn zero_batch_size_fails() {
    let (x, y) = xor();
    let error = compiled_mlp().fit(&x, &y, 1, 0).unwrap_err().to_string();
    assert_eq!(error, "fit: batch_size is 0; it must be at least 1");
}

#[test]
fn zero_epochs_fails() {
    let (x, y) = xor();
    let error = compiled_mlp().fit(&x, &y, 0, 2).unwrap_err().to_string();
    assert_eq!(error, "fit: epochs is 0; it must be at least 1");
}

#[test]
fn mismatched_lengths_name_both() {
    let (x, _) = xor();
    let y = Tensor::zeros(&[3]);
    let error = compiled_mlp().fit(&x, &y, 1, 2).unwrap_err().to_string();
    assert!(error.contains("x has 4 samples but y has 3"), "{error}");
}

#[test]
fn empty_data_fails() {
    let x = Tensor::zeros(&[0, 2]);
    let y = Tensor::zeros(&[0]);
    let error = compiled_mlp().fit(&x, &y, 1, 2).unwrap_err().to_string();
    assert!(error.contains("empty"), "{error}");
}

#[test]
fn scalar_data_fails() {
    let error = compiled_mlp().fit(&Tensor::scalar(1.0), &Tensor::scalar(0.0), 1, 2).unwrap_err().to_string();
    assert!(error.contains("leading sample axis"), "{error}");
}

#[test]
fn validation_split_outside_unit_interval_fails() {
    let (x, y) = xor();
    for fraction in [1.5, 1.0, 0.0, -0.1, f32::NAN] {
        let options = FitOptions::new(1, 2).validation_split(fraction).verbose(false);
        let error = compiled_mlp().fit_with(&x, &y, options).unwrap_err().to_string();
        assert!(error.contains("strictly between 0 and 1"), "{fraction}: {error}");
    }
}

#[test]
fn validation_split_without_training_rows_fails() {
    let (x, y) = xor();
    let options = FitOptions::new(1, 2).validation_split(0.9).verbose(false);
    let error = compiled_mlp().fit_with(&x, &y, options).unwrap_err().to_string();
    assert!(error.contains("leaves 0 for training and 4 for validation"), "{error}");
}

#[test]
fn validation_data_and_split_together_fail() {
    let (x, y) = xor();
    let options = FitOptions::new(1, 2).validation_data(x.clone(), y.clone()).validation_split(0.5).verbose(false);
    let error = compiled_mlp().fit_with(&x, &y, options).unwrap_err().to_string();
    assert!(error.contains("set only one of them"), "{error}");
}

#[test]
fn mismatched_validation_data_fails() {
    let (x, y) = xor();
    let options = FitOptions::new(1, 2).validation_data(x.clone(), Tensor::zeros(&[2])).verbose(false);
    let error = compiled_mlp().fit_with(&x, &y, options).unwrap_err().to_string();
    assert!(error.contains("validation_data"), "{error}");
}

#[test]
fn invalid_clip_norm_fails() {
    let (x, y) = xor();
    let options = FitOptions::new(1, 2).clip_grad_norm(0.0).verbose(false);
    let error = compiled_mlp().fit_with(&x, &y, options).unwrap_err().to_string();
    assert!(error.contains("clip_grad_norm is 0"), "{error}");
}

#[test]
fn wrong_feature_count_is_a_shape_error() {
    let x = Tensor::zeros(&[4, 3]);
    let (_, y) = xor();
    let error = compiled_mlp().fit(&x, &y, 1, 2).unwrap_err();
    assert!(matches!(error, TrainError::Tensor(_)), "{error:?}");
}

#[test]
fn nan_input_reports_divergence() {
    let x = Tensor::from_vec(vec![f32::NAN, 0.0, 1.0, 1.0], &[2, 2]).unwrap();
    let y = Tensor::from_vec(vec![0.0, 1.0], &[2]).unwrap();
    let mut model = compiled_mlp();
    let before: Vec<Vec<f32>> = model.parameters().iter().map(|p| p.var.value().to_vec()).collect();

    let error = model.fit_with(&x, &y, FitOptions::new(1, 2).verbose(false)).unwrap_err();

    assert!(matches!(error, TrainError::Diverged { step: 1, .. }), "{error:?}");
    assert!(error.to_string().contains("lower the learning rate"), "{error}");
    let after: Vec<Vec<f32>> = model.parameters().iter().map(|p| p.var.value().to_vec()).collect();
    assert_eq!(before, after, "no weight is updated by a diverged step");
}

#[test]
fn predict_rejects_zero_batch_size_and_empty_input() {
    let model = mlp(2, 4, 2, 0);
    assert!(model.predict(&Tensor::zeros(&[3, 2]), 0).is_err());
    assert!(model.predict(&Tensor::zeros(&[0, 2]), 4).is_err());
}

#[test]
fn fit_batches_rejects_zero_intervals() {
    let (x, y) = xor();
    let mut model = compiled_mlp();
    for (options, name) in [
        (StepOptions::new(0), "steps"),
        (StepOptions::new(5).eval_interval(0), "eval_interval"),
        (StepOptions::new(5).log_interval(0), "log_interval"),
    ] {
        let mut batches = TensorBatches::new(x.clone(), y.clone(), 2).unwrap();
        let error = model.fit_batches(&mut batches, options.verbose(false)).unwrap_err().to_string();
        assert_eq!(error, format!("fit_batches: {name} is 0; it must be at least 1"));
    }
}

#[test]
fn tensor_batches_checks_arguments() {
    let (x, y) = xor();
    assert!(TensorBatches::new(x.clone(), y.clone(), 0).is_err());
    assert!(TensorBatches::new(x.clone(), Tensor::zeros(&[3]), 2).is_err());
    let batches = TensorBatches::new(x.clone(), y.clone(), 2).unwrap();
    assert!(batches.with_validation(x, Tensor::zeros(&[1])).is_err());
}
