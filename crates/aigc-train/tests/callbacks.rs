//! Callbacks and step-based training with `fit_batches`.

mod common;

use std::sync::{Arc, Mutex};

use aigc_nn::Parameter;
use aigc_optim::{Constant, LrSchedule, StepDecay};
use aigc_train::{
    Callback, EarlyStopping, EpochLogs, FitOptions, LearningRateScheduler, Optimizer, StepLog, StepOptions,
    TensorBatches, TrainingControl,
};
use common::{blobs, mlp, xor};

/// Records every hook call, for checking order and contents.
#[derive(Clone, Default)]
struct Journal {
    events: Arc<Mutex<Vec<String>>>,
    epoch_logs: Arc<Mutex<Vec<EpochLogs>>>,
    step_logs: Arc<Mutex<Vec<StepLog>>>,
}

impl Callback for Journal {
    fn on_train_begin(&mut self, params: &[Parameter]) -> aigc_train::Result<()> {
        self.events.lock().unwrap().push(format!("train_begin {}", params.len()));
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _: &mut TrainingControl) -> aigc_train::Result<()> {
        self.events.lock().unwrap().push(format!("epoch_begin {epoch}"));
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &EpochLogs,
        _: &[Parameter],
        _: &mut TrainingControl,
    ) -> aigc_train::Result<()> {
        self.events.lock().unwrap().push(format!("epoch_end {epoch}"));
        self.epoch_logs.lock().unwrap().push(logs.clone());
        Ok(())
    }

    fn on_step_end(&mut self, log: &StepLog, _: &[Parameter], _: &mut TrainingControl) -> aigc_train::Result<()> {
        self.events.lock().unwrap().push(format!("step_end {}", log.step));
        self.step_logs.lock().unwrap().push(log.clone());
        Ok(())
    }

    fn on_train_end(&mut self, history: &aigc_train::History, _: &[Parameter]) -> aigc_train::Result<()> {
        self.events.lock().unwrap().push(format!("train_end {}", history.len()));
        Ok(())
    }
}

#[test]
fn fit_calls_hooks_in_order() {
    let (x, y) = xor();
    let mut model = mlp(2, 4, 2, 0);
    model.compile("sgd", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let journal = Journal::default();

    model.fit_with(&x, &y, FitOptions::new(2, 3).callback(journal.clone()).verbose(false)).unwrap();

    let events = journal.events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            "train_begin 4",
            "epoch_begin 0",
            "step_end 1",
            "step_end 2",
            "epoch_end 0",
            "epoch_begin 1",
            "step_end 3",
            "step_end 4",
            "epoch_end 1",
            "train_end 2"
        ]
    );
    let logs = journal.epoch_logs.lock().unwrap();
    assert_eq!(logs[1].step, 4);
    assert!(logs[1].get("loss").is_some());
    assert!(logs[1].get("accuracy").is_some());
    assert!(logs[1].get("val_loss").is_none());
}

#[test]
fn early_stopping_stops_when_loss_stalls() {
    let (x, y) = blobs(3, 10, 0);
    let mut model = mlp(2, 4, 3, 0);
    // A learning rate of 0 keeps the loss constant, so it never improves.
    model.compile(Optimizer::sgd(0.0), "sparse_categorical_crossentropy", &[]).unwrap();

    // Without shuffling every epoch sums the same batches in the same order.
    let options = FitOptions::new(50, 10).shuffle(false).callback(EarlyStopping::new("loss", 2)).verbose(false);
    let history = model.fit_with(&x, &y, options).unwrap();

    // Epoch 0 sets the best, epochs 1 and 2 do not improve, so training stops after epoch 2.
    assert_eq!(history.len(), 3);
    assert!(history.stopped_early());
}

#[test]
fn early_stopping_keeps_going_while_improving() {
    let (x, y) = blobs(3, 20, 0);
    let mut model = mlp(2, 16, 3, 0);
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();

    let options = FitOptions::new(5, 10).callback(EarlyStopping::new("loss", 1)).verbose(false);
    let history = model.fit_with(&x, &y, options).unwrap();

    assert_eq!(history.len(), 5);
    assert!(!history.stopped_early());
}

#[test]
fn early_stopping_restores_best_weights() {
    let (x, y) = blobs(3, 40, 1);
    let mut model = mlp(2, 16, 3, 1);
    // A large SGD step makes the validation loss jump around.
    model.compile(Optimizer::sgd(2.0), "sparse_categorical_crossentropy", &[]).unwrap();
    let (x_val, y_val) = blobs(3, 20, 2);

    let stopper = EarlyStopping::new("val_loss", 3).restore_best_weights(true);
    let options = FitOptions::new(30, 8).validation_data(x_val.clone(), y_val.clone()).callback(stopper).verbose(false);
    let history = model.fit_with(&x, &y, options).unwrap();

    let best = history.val_loss().unwrap().iter().copied().fold(f32::INFINITY, f32::min);
    let restored = model.evaluate_all(&x_val, &y_val, 8).unwrap().loss;
    assert!((restored - best).abs() < 1e-5, "restored {restored}, best {best}, history {:?}", history.val_loss());
}

#[test]
fn early_stopping_on_missing_value_explains() {
    let (x, y) = xor();
    let mut model = mlp(2, 4, 2, 0);
    model.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();

    let options = FitOptions::new(3, 4).callback(EarlyStopping::new("val_loss", 1)).verbose(false);
    let error = model.fit_with(&x, &y, options).unwrap_err().to_string();

    assert!(
        error.contains(r#"the monitored value "val_loss" is not in the epoch's logs (available: loss)"#),
        "{error}"
    );
}

#[test]
fn learning_rate_scheduler_sets_rate_per_epoch() {
    let (x, y) = xor();
    let mut model = mlp(2, 4, 2, 0);
    model.compile(Optimizer::sgd(0.5), "sparse_categorical_crossentropy", &[]).unwrap();
    let journal = Journal::default();
    let schedule = StepDecay::new(0.1, 1, 0.5).unwrap();

    let options = FitOptions::new(3, 4)
        .callback(LearningRateScheduler::new(Box::new(schedule)))
        .callback(journal.clone())
        .verbose(false);
    model.fit_with(&x, &y, options).unwrap();

    let rates: Vec<f32> = journal.epoch_logs.lock().unwrap().iter().map(|logs| logs.lr).collect();
    assert_eq!(rates, vec![schedule.lr(0), schedule.lr(1), schedule.lr(2)]);
    assert_eq!(model.optimizer().unwrap().learning_rate(), schedule.lr(2));
}

#[test]
fn callback_can_stop_mid_epoch() {
    struct StopAtStep(usize);
    impl Callback for StopAtStep {
        fn on_step_end(
            &mut self,
            log: &StepLog,
            _: &[Parameter],
            control: &mut TrainingControl,
        ) -> aigc_train::Result<()> {
            control.stop = log.step == self.0;
            Ok(())
        }
    }
    let (x, y) = blobs(2, 10, 0);
    let mut model = mlp(2, 4, 2, 0);
    model.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();

    let history = model.fit_with(&x, &y, FitOptions::new(4, 5).callback(StopAtStep(6)).verbose(false)).unwrap();

    assert_eq!(history.len(), 2, "epoch 1 is recorded with the steps it ran");
    assert_eq!(history.steps(), &[4, 6]);
    assert!(history.stopped_early());
}

#[test]
fn callback_error_restores_eval_mode() {
    struct Failing;
    impl Callback for Failing {
        fn on_epoch_end(
            &mut self,
            _: usize,
            _: &EpochLogs,
            _: &[Parameter],
            _: &mut TrainingControl,
        ) -> aigc_train::Result<()> {
            Err(aigc_train::TrainError::invalid("Failing", "stop here"))
        }
    }
    let recorder = common::Recorder::new(2, 2, 0);
    let training = recorder.training.clone();
    let mut model = aigc_train::Model::from(recorder);
    model.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();
    let (x, y) = xor();

    let error = model.fit_with(&x, &y, FitOptions::new(3, 4).callback(Failing).verbose(false)).unwrap_err();

    assert_eq!(error.to_string(), "Failing: stop here");
    assert!(!*training.lock().unwrap());
}

#[test]
fn fit_batches_learns_and_records_evaluations() {
    let (x, y) = blobs(3, 50, 3);
    let (x_val, y_val) = blobs(3, 10, 4);
    let mut model = mlp(2, 16, 3, 0);
    model.compile(Optimizer::adam(0.02), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let mut batches = TensorBatches::new(x, y, 16).unwrap().with_validation(x_val.clone(), y_val.clone()).unwrap();
    let journal = Journal::default();

    let options = StepOptions::new(95).eval_interval(20).log_interval(10).callback(journal.clone()).verbose(false);
    let history = model.fit_batches(&mut batches, options).unwrap();

    assert_eq!(history.steps(), &[20, 40, 60, 80, 95]);
    assert!(history.epochs().is_empty());
    assert_eq!(history.last("val_accuracy"), Some(1.0));
    let logged: Vec<usize> = journal.step_logs.lock().unwrap().iter().map(|log| log.step).collect();
    assert_eq!(logged, [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]);
    let logs = journal.step_logs.lock().unwrap();
    assert!(logs[0].val_loss.is_none());
    assert_eq!(logs[1].val_loss, history.val_loss().map(|v| v[0]));
    assert!(logs.iter().all(|log| log.tokens_per_s > 0.0 && log.grad_norm.is_finite()));
    assert!(logs.iter().all(|log| log.lr == 0.02));
}

#[test]
fn fit_batches_applies_schedule_and_clipping() {
    let (x, y) = blobs(3, 20, 5);
    let mut model = mlp(2, 8, 3, 0);
    model.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();
    let mut batches = TensorBatches::new(x, y, 8).unwrap();
    let journal = Journal::default();
    let schedule = StepDecay::new(0.2, 3, 0.5).unwrap();

    let options = StepOptions::new(12)
        .log_interval(1)
        .eval_interval(6)
        .schedule(schedule)
        .clip_grad_norm(1e-3)
        .callback(journal.clone())
        .verbose(false);
    let history = model.fit_batches(&mut batches, options).unwrap();

    let rates: Vec<f32> = journal.step_logs.lock().unwrap().iter().map(|log| log.lr).collect();
    let expected: Vec<f32> = (0..12).map(|step| schedule.lr(step)).collect();
    assert_eq!(rates, expected);
    assert!(history.val_loss().is_none(), "no validation data, no val_loss");
    assert_eq!(history.len(), 2);
}

#[test]
fn fit_batches_is_reproducible_and_early_stops() {
    let (x, y) = blobs(3, 20, 6);
    let run = |seed: u64| {
        let mut model = mlp(2, 8, 3, 0);
        model.compile(Optimizer::sgd(0.0), "sparse_categorical_crossentropy", &[]).unwrap();
        let mut batches =
            TensorBatches::new(x.clone(), y.clone(), 8).unwrap().with_validation(x.clone(), y.clone()).unwrap();
        let options = StepOptions::new(100)
            .eval_interval(5)
            .seed(seed)
            .schedule(Constant(0.0))
            .callback(EarlyStopping::new("val_loss", 2))
            .verbose(false);
        model.fit_batches(&mut batches, options).unwrap()
    };

    let history = run(3);
    assert_eq!(history, run(3));
    assert_ne!(history.loss(), run(4).loss());
    // With a learning rate of 0 the validation loss never improves after the first evaluation.
    assert_eq!(history.steps(), &[5, 10, 15]);
    assert!(history.stopped_early());
}
