//! The Keras-style API end to end: models learn, runs are reproducible, and
//! the ChatGPT snippet from the docs runs as written.

mod common;

use std::sync::{Arc, Mutex};

use aigc_gpt::GptConfig;
use aigc_nn::{Dropout, Linear};
use aigc_tensor::{Rng, Tensor};
use aigc_train::models::{ChatGPT, Sequential};
use aigc_train::{FitOptions, Loss, Metric, Model, Optimizer};
use common::{blobs, mlp, xor, Recorder};

#[test]
fn mlp_learns_xor() {
    let (x, y) = xor();
    let mut model = mlp(2, 16, 2, 0);
    model.compile(Optimizer::adam(0.05), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();

    let history = model.fit_with(&x, &y, FitOptions::new(300, 4).verbose(false)).unwrap();
    let (loss, accuracy) = model.evaluate(&x, &y).unwrap();

    assert_eq!(history.len(), 300);
    assert!(loss < 0.05, "loss {loss}");
    assert_eq!(accuracy, 1.0);
    assert_eq!(history.last("accuracy"), Some(1.0));
}

#[test]
fn mlp_learns_blobs_with_one_hot_targets() {
    let (x, ids) = blobs(3, 100, 1);
    let one_hot = Tensor::one_hot(&ids, 3).unwrap();
    let mut model = mlp(2, 32, 3, 2);
    model.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();

    let options = FitOptions::new(30, 16).validation_split(0.2).verbose(false);
    let history = model.fit_with(&x, &one_hot, options).unwrap();
    let (_, accuracy) = model.evaluate(&x, &one_hot).unwrap();

    assert_eq!(accuracy, 1.0);
    assert_eq!(history.last("val_accuracy"), Some(1.0));
    let loss = history.loss();
    assert!(loss[loss.len() - 1] < loss[0] / 4.0, "loss {loss:?}");
}

#[test]
fn categorical_crossentropy_takes_class_ids() {
    let (x, ids) = blobs(3, 40, 3);
    let mut model = mlp(2, 16, 3, 4);
    model.compile("adam", "categorical_crossentropy", &["sparse_categorical_accuracy", "perplexity"]).unwrap();

    model.fit_with(&x, &ids, FitOptions::new(40, 16).verbose(false)).unwrap();
    let evaluation = model.evaluate_all(&x, &ids, 32).unwrap();

    assert_eq!(evaluation.get("sparse_categorical_accuracy"), Some(1.0));
    let perplexity = evaluation.get("perplexity").unwrap();
    assert!((perplexity - evaluation.loss.exp()).abs() < 1e-4, "{perplexity} vs exp({})", evaluation.loss);
}

#[test]
fn chatgpt_snippet_runs_as_written() {
    let mut rng = Rng::seed(0);
    let ids: Vec<f32> = (0..8 * 17).map(|_| rng.below(256) as f32).collect();
    let tokens = Tensor::from_vec(ids, &[8, 17]).unwrap();
    let x_train = tokens.narrow(1, 0, 16).unwrap();
    let y_train = tokens.narrow(1, 1, 16).unwrap();
    let (x_test, y_test) = (x_train.clone(), y_train.clone());

    let run = || -> aigc_train::Result<(aigc_train::History, f32, f32)> {
        let mut model = ChatGPT::new(GptConfig::tiny());
        model.compile("adam", "categorical_crossentropy", &["accuracy"])?;
        let history = model.fit(&x_train, &y_train, 10, 32)?; // epochs, batch_size
        let (loss, accuracy) = model.evaluate(&x_test, &y_test)?;
        Ok((history, loss, accuracy))
    };
    let (history, loss, accuracy) = run().unwrap();

    assert_eq!(history.len(), 10);
    let losses = history.loss();
    assert!((losses[0] - 256f32.ln()).abs() < 0.5, "first loss {} should be near ln 256", losses[0]);
    assert!(loss < losses[0], "evaluated loss {loss} should be below the first epoch's {}", losses[0]);
    assert!((0.0..=1.0).contains(&accuracy));
}

#[test]
fn chatgpt_try_new_rejects_invalid_config() {
    let config = GptConfig { n_head: 3, ..GptConfig::tiny() };
    let error = ChatGPT::try_new(config).err().expect("n_embd 128 is not divisible by n_head 3");
    assert!(error.to_string().contains("n_head"), "{error}");
}

#[test]
#[should_panic(expected = "invalid GptConfig")]
fn chatgpt_new_panics_on_invalid_config() {
    let _ = ChatGPT::new(GptConfig { vocab_size: 0, ..GptConfig::tiny() });
}

#[test]
fn same_seed_gives_identical_history() {
    let (x, y) = blobs(3, 30, 5);
    let run = |seed: u64| {
        let mut model = mlp(2, 8, 3, 6);
        model.compile("sgd", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        let options = FitOptions::new(5, 8).validation_split(0.25).seed(seed).verbose(false);
        model.fit_with(&x, &y, options).unwrap()
    };

    let first = run(11);
    assert_eq!(first, run(11));
    assert_ne!(first.loss(), run(12).loss());
}

#[test]
fn shuffle_changes_order_deterministically() {
    let rows = 8;
    let x = Tensor::from_vec((0..rows).map(|v| v as f32).collect(), &[rows, 1]).unwrap();
    let y = Tensor::zeros(&[rows, 1]);
    let batch_order = |shuffle: bool, seed: u64| {
        let recorder = Recorder::new(1, 1, 0);
        let seen = recorder.training_inputs.clone();
        let mut model = Model::from(recorder);
        model.compile("sgd", "mse", &[]).unwrap();
        model.fit_with(&x, &y, FitOptions::new(2, rows).shuffle(shuffle).seed(seed).verbose(false)).unwrap();
        let seen = seen.lock().unwrap().clone();
        seen
    };

    let in_order = batch_order(false, 1);
    let shuffled = batch_order(true, 1);
    let identity: Vec<f32> = (0..rows).map(|v| v as f32).collect();
    assert_eq!(in_order, vec![identity.clone(), identity.clone()]);
    assert_eq!(shuffled, batch_order(true, 1));
    assert_ne!(shuffled, batch_order(true, 2));
    assert_ne!(shuffled[0], identity);
    assert_ne!(shuffled[0], shuffled[1], "each epoch draws a new order");
    for epoch in &shuffled {
        let mut sorted = epoch.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, identity, "every row appears once per epoch");
    }
}

#[test]
fn validation_split_holds_out_last_rows() {
    let rows = 10;
    let x = Tensor::from_vec((0..rows).map(|v| v as f32).collect(), &[rows, 1]).unwrap();
    let y = Tensor::zeros(&[rows, 1]);
    let recorder = Recorder::new(1, 1, 0);
    let seen = recorder.training_inputs.clone();
    let mut model = Model::from(recorder);
    model.compile("sgd", "mse", &[]).unwrap();

    let options = FitOptions::new(1, 4).validation_split(0.2).verbose(false);
    let history = model.fit_with(&x, &y, options).unwrap();

    let trained_on: Vec<f32> = seen.lock().unwrap().concat();
    let mut sorted = trained_on.clone();
    sorted.sort_by(f32::total_cmp);
    assert_eq!(sorted, (0..8).map(|v| v as f32).collect::<Vec<_>>());
    assert!(history.get("val_loss").is_some());
}

#[test]
fn fit_switches_training_mode() {
    let recorder = Recorder::new(1, 1, 0);
    let training = recorder.training.clone();
    let mut model = Model::from(recorder);
    assert!(!*training.lock().unwrap(), "a new model is in evaluation mode");
    model.compile("sgd", "mse", &[]).unwrap();

    /// Records the network's mode at every step.
    struct ModeProbe(Arc<Mutex<bool>>, Arc<Mutex<Vec<bool>>>);
    impl aigc_train::Callback for ModeProbe {
        fn on_step_end(
            &mut self,
            _: &aigc_train::StepLog,
            _: &[aigc_nn::Parameter],
            _: &mut aigc_train::TrainingControl,
        ) -> aigc_train::Result<()> {
            self.1.lock().unwrap().push(*self.0.lock().unwrap());
            Ok(())
        }
    }
    let modes = Arc::new(Mutex::new(Vec::new()));
    let x = Tensor::zeros(&[4, 1]);
    let options = FitOptions::new(2, 2).callback(ModeProbe(training.clone(), modes.clone())).verbose(false);
    model.fit_with(&x, &x, options).unwrap();

    assert_eq!(*modes.lock().unwrap(), vec![true; 4], "steps run in training mode");
    assert!(!*training.lock().unwrap(), "fit leaves the model in evaluation mode");
}

#[test]
fn predict_after_fit_disables_dropout() {
    let mut rng = Rng::seed(0);
    let mut model = Sequential::new()
        .add(Linear::new(2, 16, true, &mut rng))
        .add(Dropout::new(0.5, 1).unwrap())
        .add(Linear::new(16, 2, true, &mut rng));
    let (x, y) = xor();
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    model.fit_with(&x, &y, FitOptions::new(3, 2).verbose(false)).unwrap();

    let first = model.predict(&x, 3).unwrap();
    let second = model.predict(&x, 3).unwrap();
    assert_eq!(first.shape(), &[4, 2]);
    assert_eq!(first.to_vec(), second.to_vec());
}

#[test]
fn predict_works_uncompiled_in_batches() {
    let model = mlp(2, 4, 3, 0);
    let (x, _) = blobs(3, 5, 0);

    let batched = model.predict(&x, 4).unwrap();
    let whole = model.predict(&x, 100).unwrap();

    assert_eq!(batched.shape(), &[15, 3]);
    assert!(batched.allclose(&whole, 1e-6, 1e-6));
}

#[test]
fn compile_with_typed_forms() {
    let mut model = mlp(2, 4, 3, 0);
    let boxed: Box<dyn aigc_optim::Optimizer> = Box::new(aigc_optim::Sgd::new(0.5));
    model.compile_with(boxed, Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy]).unwrap();
    assert_eq!(model.optimizer().unwrap().name(), "sgd");
    assert_eq!(model.optimizer().unwrap().learning_rate(), 0.5);
    assert_eq!(model.loss(), Some(Loss::SparseCategoricalCrossentropy));
    assert_eq!(model.metrics(), &[Metric::Accuracy]);

    model.compile("AdamW", "MSE", &["Perplexity"]).unwrap();
    assert_eq!(model.optimizer().unwrap().name(), "adamw");
    assert_eq!(model.optimizer().unwrap().learning_rate(), aigc_train::DEFAULT_LEARNING_RATE);
    assert_eq!(model.loss(), Some(Loss::Mse));
    assert_eq!(model.metrics(), &[Metric::Perplexity]);
}

#[test]
fn evaluate_without_metric_returns_nan() {
    let (x, y) = xor();
    let mut model = mlp(2, 4, 2, 0);
    model.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();
    let (loss, metric) = model.evaluate(&x, &y).unwrap();
    assert!(loss.is_finite());
    assert!(metric.is_nan());
}

#[test]
fn history_serializes_to_json() {
    let (x, y) = xor();
    let mut model = mlp(2, 4, 2, 0);
    model.compile("sgd", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let history =
        model.fit_with(&x, &y, FitOptions::new(2, 4).validation_data(x.clone(), y.clone()).verbose(false)).unwrap();

    let json: serde_json::Value = serde_json::to_value(&history).unwrap();
    assert_eq!(json["epochs"], serde_json::json!([0, 1]));
    assert_eq!(json["steps"], serde_json::json!([1, 2]));
    for key in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        assert_eq!(json[key].as_array().map(Vec::len), Some(2), "{key}");
    }
}
