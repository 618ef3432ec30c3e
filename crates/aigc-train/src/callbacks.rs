//! Callbacks: code that runs at fixed points of training and can stop it or
//! change the learning rate.
//!
//! Hooks, in the order [`crate::Model::fit`] calls them:
//!
//! ```text
//! on_train_begin
//! for each epoch:   on_epoch_begin → for each batch: on_step_end → on_epoch_end
//! on_train_end
//! ```
//!
//! [`crate::Model::fit_batches`] has no epochs: it calls `on_step_end` every
//! `log_interval` steps and at every evaluation, and never calls the epoch
//! hooks.
//!
//! Every hook except `on_epoch_begin` receives the model's parameters, so a
//! callback can read or overwrite the weights (as [`EarlyStopping`] does to
//! restore the best ones) or save them.

use aigc_nn::Parameter;
use aigc_optim::LrSchedule;
use aigc_optim::SavedTensor;
use aigc_tensor::Tensor;
use bincode::Options;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::history::History;
use crate::training_state::CallbackState;

/// A callback's requests to the training loop.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingControl {
    /// Set to `true` to stop after the current step ([`crate::Model::fit`]
    /// still records the epoch so far).
    pub stop: bool,
    /// Set to a new learning rate to apply from the next step on.
    pub lr: Option<f32>,
    current_lr: f32,
}

impl TrainingControl {
    /// Creates a control with no request and the optimizer's current learning rate.
    pub fn new(current_lr: f32) -> Self {
        TrainingControl { stop: false, lr: None, current_lr }
    }

    /// Returns the learning rate in effect when the hook was called.
    pub fn current_lr(&self) -> f32 {
        self.current_lr
    }
}

/// The results of one epoch, passed to [`Callback::on_epoch_end`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochLogs {
    /// The number of epochs the run was asked for.
    pub epochs: usize,
    /// Optimizer steps completed since training started.
    pub step: usize,
    /// `loss`, then each metric, then `val_loss` and the `val_` metrics when
    /// there is validation data: the values this epoch adds to [`History`].
    pub values: Vec<(String, f32)>,
    /// The learning rate at the end of the epoch.
    pub lr: f32,
    /// Training samples processed per second, validation excluded.
    pub samples_per_s: f32,
}

impl EpochLogs {
    /// Returns the value called `name` (`"loss"`, `"val_accuracy"`, ...).
    pub fn get(&self, name: &str) -> Option<f32> {
        self.values.iter().find(|(key, _)| key == name).map(|(_, value)| *value)
    }
}

/// A training step's report, passed to [`Callback::on_step_end`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepLog {
    /// Optimizer steps completed, counting from 1.
    pub step: usize,
    /// The number of steps the run was asked for.
    pub steps: usize,
    /// Mean training loss over the steps since the previous report.
    pub loss: f32,
    /// The learning rate of the last step.
    pub lr: f32,
    /// Throughput since the previous report. In [`crate::Model::fit_batches`]
    /// the unit is [`crate::BatchSource::tokens_per_batch`] per second; in
    /// [`crate::Model::fit`] it is samples (rows of `x`) per second.
    pub tokens_per_s: f32,
    /// Mean loss over the validation batches, on steps that evaluated them.
    pub val_loss: Option<f32>,
    /// Global L2 norm of the last step's gradients, before clipping.
    pub grad_norm: f32,
}

/// Code run by the training loop at fixed points. Every hook does nothing by
/// default. An error from a hook stops training and is returned by `fit`.
///
/// ```
/// use aigc_nn::Parameter;
/// use aigc_train::{Callback, StepLog, TrainingControl};
///
/// /// Stops as soon as the training loss falls below a target.
/// struct StopBelow(f32);
///
/// impl Callback for StopBelow {
///     fn on_step_end(&mut self, log: &StepLog, _: &[Parameter], control: &mut TrainingControl) -> aigc_train::Result<()> {
///         control.stop = log.loss < self.0;
///         Ok(())
///     }
/// }
/// ```
pub trait Callback: Send {
    /// Runs once before the first step.
    fn on_train_begin(&mut self, params: &[Parameter]) -> Result<()> {
        let _ = params;
        Ok(())
    }

    /// Runs before epoch `epoch` (counted from 0) of [`crate::Model::fit`].
    fn on_epoch_begin(&mut self, epoch: usize, control: &mut TrainingControl) -> Result<()> {
        let _ = (epoch, control);
        Ok(())
    }

    /// Runs after epoch `epoch` (counted from 0) of [`crate::Model::fit`],
    /// after validation.
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &EpochLogs,
        params: &[Parameter],
        control: &mut TrainingControl,
    ) -> Result<()> {
        let _ = (epoch, logs, params, control);
        Ok(())
    }

    /// Runs after every batch of [`crate::Model::fit`], and every
    /// `log_interval` steps and at every evaluation of
    /// [`crate::Model::fit_batches`].
    fn on_step_end(&mut self, log: &StepLog, params: &[Parameter], control: &mut TrainingControl) -> Result<()> {
        let _ = (log, params, control);
        Ok(())
    }

    /// Runs after a step whose loss or gradient norm was NaN or infinite was
    /// skipped, when [`crate::StepOptions::skip_nonfinite`] or
    /// [`crate::FitOptions::skip_nonfinite`] is on.
    fn on_step_skipped(&mut self, skipped: &SkippedStep) -> Result<()> {
        let _ = skipped;
        Ok(())
    }

    /// Runs once after the last step, also when a callback stopped training.
    fn on_train_end(&mut self, history: &History, params: &[Parameter]) -> Result<()> {
        let _ = (history, params);
        Ok(())
    }

    /// Returns the state that a checkpoint of [`crate::Model::fit_batches`]
    /// saves, so that a resumed run continues the callback where it stopped
    /// (counters, best values), or `None` for a callback without state (the
    /// default). Called after [`Callback::on_train_begin`].
    fn state(&self) -> Result<Option<CallbackState>> {
        Ok(None)
    }

    /// Restores a state that [`Callback::state`] returned, when a run resumes;
    /// called after [`Callback::on_train_begin`]. The default fails, so a
    /// callback that saves a state must also load it.
    fn load_state(&mut self, state: &CallbackState) -> Result<()> {
        Err(TrainError::invalid(
            "resume",
            format!("the callback saved a state of kind {:?} but does not implement Callback::load_state", state.kind),
        ))
    }
}

/// A step that [`crate::StepOptions::skip_nonfinite`] skipped, passed to
/// [`Callback::on_step_skipped`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedStep {
    /// The skipped step, counting from 1.
    pub step: usize,
    /// The step's loss.
    pub loss: f32,
    /// The step's global gradient norm, before clipping.
    pub grad_norm: f32,
    /// The skipped step's learning rate times [`crate::NONFINITE_LR_FACTOR`],
    /// set on the optimizer for the next step.
    pub lr: f32,
    /// The factor every later scheduled learning rate is multiplied by:
    /// [`crate::NONFINITE_LR_FACTOR`] to the power of all skips so far.
    pub lr_scale: f32,
    /// Steps skipped in a row, this one included. After
    /// [`crate::MAX_CONSECUTIVE_SKIPS`] of them, the next non-finite step
    /// stops training with [`TrainError::Diverged`].
    pub consecutive: usize,
}

/// Stops training when a monitored value has not improved for `patience`
/// epochs, as Keras's `EarlyStopping` does.
///
/// In [`crate::Model::fit`] it checks the epoch's values (`"val_loss"`,
/// `"loss"`, `"val_accuracy"`, ...). In [`crate::Model::fit_batches`] it
/// checks each evaluation step, monitoring `"val_loss"` or `"loss"`, and
/// `patience` counts evaluations. Names containing `acc` must increase to
/// improve, every other value must decrease. With
/// [`EarlyStopping::restore_best_weights`], the weights from the best check
/// are copied back when training ends.
///
/// ```
/// use aigc_train::{EarlyStopping, FitOptions};
/// let options = FitOptions::new(100, 32)
///     .validation_split(0.2)
///     .callback(EarlyStopping::new("val_loss", 3).min_delta(1e-4).restore_best_weights(true));
/// ```
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    monitor: String,
    patience: usize,
    min_delta: f32,
    restore_best_weights: bool,
    best: Option<f32>,
    wait: usize,
    best_weights: Option<Vec<Tensor>>,
    stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Stops after `patience` checks without improvement of `monitor`.
    pub fn new(monitor: &str, patience: usize) -> Self {
        EarlyStopping {
            monitor: monitor.to_string(),
            patience,
            min_delta: 0.0,
            restore_best_weights: false,
            best: None,
            wait: 0,
            best_weights: None,
            stopped_epoch: None,
        }
    }

    /// Sets the smallest change that counts as an improvement (default 0).
    pub fn min_delta(mut self, min_delta: f32) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    /// Sets whether to copy the best weights back when training ends (default `false`).
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// Returns the best value seen so far.
    pub fn best(&self) -> Option<f32> {
        self.best
    }

    /// The epoch (from 0), or in step mode the step, at which this callback
    /// stopped training.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }

    fn higher_is_better(&self) -> bool {
        self.monitor.contains("acc")
    }

    fn improves(&self, value: f32) -> bool {
        match self.best {
            None => !value.is_nan(),
            Some(best) if self.higher_is_better() => value - self.min_delta > best,
            Some(best) => value + self.min_delta < best,
        }
    }

    /// Updates the state with a new value of the monitored quantity; `at` is
    /// the epoch or step, recorded when training stops.
    fn check(&mut self, value: f32, at: usize, params: &[Parameter], control: &mut TrainingControl) {
        if self.improves(value) {
            self.best = Some(value);
            self.wait = 0;
            if self.restore_best_weights {
                self.best_weights = Some(params.iter().map(|p| p.var.value()).collect());
            }
            return;
        }
        self.wait += 1;
        if self.wait >= self.patience {
            self.stopped_epoch = Some(at);
            control.stop = true;
        }
    }
}

/// The state [`EarlyStopping`] saves in a checkpoint.
#[derive(Serialize, Deserialize)]
struct EarlyStoppingState {
    monitor: String,
    best: Option<f32>,
    wait: u64,
    stopped_epoch: Option<u64>,
    best_weights: Option<Vec<SavedTensor>>,
}

/// The kind [`EarlyStopping`] saves its state under.
const EARLY_STOPPING: &str = "EarlyStopping";

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _params: &[Parameter]) -> Result<()> {
        self.best = None;
        self.wait = 0;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &EpochLogs,
        params: &[Parameter],
        control: &mut TrainingControl,
    ) -> Result<()> {
        let Some(value) = logs.get(&self.monitor) else {
            let available: Vec<&str> = logs.values.iter().map(|(name, _)| name.as_str()).collect();
            return Err(TrainError::invalid(
                "EarlyStopping",
                format!(
                    "the monitored value {:?} is not in the epoch's logs (available: {}); pass validation data to monitor val_ values",
                    self.monitor,
                    available.join(", ")
                ),
            ));
        };
        self.check(value, epoch, params, control);
        Ok(())
    }

    fn on_step_end(&mut self, log: &StepLog, params: &[Parameter], control: &mut TrainingControl) -> Result<()> {
        // Only evaluation steps carry a val_loss; the other step reports are
        // too noisy to judge progress by.
        let Some(val_loss) = log.val_loss else { return Ok(()) };
        let value = match self.monitor.as_str() {
            "val_loss" => val_loss,
            "loss" => log.loss,
            other => {
                return Err(TrainError::invalid(
                    "EarlyStopping",
                    format!("fit_batches reports only loss and val_loss, so {other:?} cannot be monitored"),
                ))
            }
        };
        self.check(value, log.step, params, control);
        Ok(())
    }

    /// Saves the best value, the checks since it, and with
    /// `restore_best_weights` the best weights.
    fn state(&self) -> Result<Option<CallbackState>> {
        let state = EarlyStoppingState {
            monitor: self.monitor.clone(),
            best: self.best,
            wait: self.wait as u64,
            stopped_epoch: self.stopped_epoch.map(|at| at as u64),
            best_weights: self.best_weights.as_ref().map(|weights| {
                weights.iter().map(|w| SavedTensor { shape: w.shape().to_vec(), data: w.to_vec() }).collect()
            }),
        };
        let data = state_options()
            .serialize(&state)
            .map_err(|e| TrainError::invalid("EarlyStopping", format!("could not encode the state: {e}")))?;
        Ok(Some(CallbackState { kind: EARLY_STOPPING.to_string(), data }))
    }

    /// Restores a saved state; fails when it monitors another value.
    fn load_state(&mut self, saved: &CallbackState) -> Result<()> {
        const OP: &str = "EarlyStopping (resume)";
        let state: EarlyStoppingState = state_options()
            .with_limit(saved.data.len() as u64)
            .deserialize(&saved.data)
            .map_err(|e| TrainError::invalid(OP, format!("the saved state does not decode: {e}")))?;
        if state.monitor != self.monitor {
            return Err(TrainError::invalid(
                OP,
                format!(
                    "the checkpoint's EarlyStopping monitored {:?}, this one monitors {:?}; monitor the same value to resume",
                    state.monitor, self.monitor
                ),
            ));
        }
        let best_weights = match state.best_weights {
            Some(weights) => Some(
                weights.into_iter().map(|w| Tensor::from_vec(w.data, &w.shape)).collect::<aigc_tensor::Result<Vec<_>>>()?,
            ),
            None => None,
        };
        let too_large = |value: u64| TrainError::invalid(OP, format!("the saved count {value} does not fit in usize"));
        self.best = state.best;
        self.wait = usize::try_from(state.wait).map_err(|_| too_large(state.wait))?;
        self.stopped_epoch = state.stopped_epoch.map(|at| usize::try_from(at).map_err(|_| too_large(at))).transpose()?;
        self.best_weights = best_weights;
        Ok(())
    }

    fn on_train_end(&mut self, _history: &History, params: &[Parameter]) -> Result<()> {
        if let Some(weights) = self.best_weights.take() {
            for (param, weight) in params.iter().zip(weights) {
                param.var.set_value(weight)?;
            }
        }
        Ok(())
    }
}

/// The bincode settings of callback states: the same as the training state's payload.
fn state_options() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian()
}

/// Sets the learning rate at the start of each epoch to `schedule.lr(epoch)`,
/// with epochs counted from 0, as Keras's `LearningRateScheduler` does.
///
/// For a schedule over optimizer steps, use [`crate::StepOptions::schedule`]
/// with [`crate::Model::fit_batches`].
pub struct LearningRateScheduler {
    schedule: Box<dyn LrSchedule>,
}

impl LearningRateScheduler {
    /// Applies `schedule` per epoch.
    pub fn new(schedule: Box<dyn LrSchedule>) -> Self {
        LearningRateScheduler { schedule }
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, control: &mut TrainingControl) -> Result<()> {
        control.lr = Some(self.schedule.lr(epoch));
        Ok(())
    }
}

impl std::fmt::Debug for LearningRateScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearningRateScheduler").finish_non_exhaustive()
    }
}

/// Runs the hook on every callback in order, then applies a requested
/// learning rate. Returns whether a callback asked to stop.
pub(crate) fn run_hooks(
    callbacks: &mut [Box<dyn Callback>],
    optimizer: &mut dyn aigc_optim::Optimizer,
    mut hook: impl FnMut(&mut dyn Callback, &mut TrainingControl) -> Result<()>,
) -> Result<bool> {
    let mut control = TrainingControl::new(optimizer.learning_rate());
    for callback in callbacks.iter_mut() {
        hook(callback.as_mut(), &mut control)?;
        // A later callback reads the rate an earlier one set.
        if let Some(lr) = control.lr.take() {
            optimizer.set_learning_rate(lr);
            control.current_lr = lr;
        }
    }
    Ok(control.stop)
}
