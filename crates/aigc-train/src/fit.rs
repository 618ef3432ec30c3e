//! `fit()`: training on `(x, y)` tensors for a number of epochs.

use std::time::Instant;

use aigc_nn::{Module, Parameter};
use aigc_tensor::{Rng, Tensor};

use crate::batches::{batch_ranges, check_batch_size, check_xy, take_rows};
use crate::callbacks::{run_hooks, Callback, EpochLogs, StepLog};
use crate::error::{Result, TrainError};
use crate::history::History;
use crate::model::Model;
use crate::nonfinite::NonfiniteGuard;
use crate::progress::Progress;
use crate::training_state::NonfiniteState;
use crate::running::RunningMetrics;
use crate::step::check_clip;

/// The settings of [`Model::fit_with`]. Build them with [`FitOptions::new`]
/// and the builder methods, or with struct update syntax from `Default`.
///
/// ```
/// use aigc_train::{EarlyStopping, FitOptions};
/// let options = FitOptions::new(20, 64)
///     .validation_split(0.1)
///     .seed(7)
///     .callback(EarlyStopping::new("val_loss", 3));
/// assert_eq!((options.epochs, options.batch_size), (20, 64));
/// ```
pub struct FitOptions {
    /// Passes over the training data. Must be at least 1.
    pub epochs: usize,
    /// Rows per optimizer step; the last batch of an epoch may be shorter.
    /// Must be at least 1.
    pub batch_size: usize,
    /// Data `(x_val, y_val)` to compute `val_loss` and the `val_` metrics on
    /// after each epoch.
    pub validation_data: Option<(Tensor, Tensor)>,
    /// Holds out this fraction of the rows, taken from the end before any
    /// shuffling (as Keras does), as validation data. Must be in (0, 1).
    pub validation_split: Option<f32>,
    /// Whether to visit the training rows in a new random order each epoch.
    pub shuffle: bool,
    /// Seed of the shuffling generator; the same seed gives the same order.
    pub seed: u64,
    /// Callbacks, run in order at each hook.
    pub callbacks: Vec<Box<dyn Callback>>,
    /// Maximum global L2 norm of the gradients; `None` leaves them unclipped.
    pub clip_grad_norm: Option<f32>,
    /// Whether to show progress on stderr.
    pub verbose: bool,
    /// Skip a batch whose loss or gradient norm is NaN or infinite instead of
    /// stopping, and multiply the learning rate by
    /// [`crate::NONFINITE_LR_FACTOR`], as [`crate::StepOptions::skip_nonfinite`]
    /// does. A callback that sets the rate later (such as
    /// [`crate::LearningRateScheduler`]) replaces the lowered rate.
    pub skip_nonfinite: bool,
}

impl Default for FitOptions {
    /// Returns Keras's defaults: one epoch of batches of 32, shuffled from
    /// seed 0, with no validation, no callbacks, no clipping, and progress shown.
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            validation_data: None,
            validation_split: None,
            shuffle: true,
            seed: 0,
            callbacks: Vec::new(),
            clip_grad_norm: None,
            verbose: true,
            skip_nonfinite: false,
        }
    }
}

impl FitOptions {
    /// Returns the defaults with `epochs` and `batch_size` set.
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        FitOptions { epochs, batch_size, ..Self::default() }
    }

    /// Sets [`FitOptions::epochs`].
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets [`FitOptions::batch_size`].
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets [`FitOptions::validation_data`].
    pub fn validation_data(mut self, x: Tensor, y: Tensor) -> Self {
        self.validation_data = Some((x, y));
        self
    }

    /// Sets [`FitOptions::validation_split`].
    pub fn validation_split(mut self, fraction: f32) -> Self {
        self.validation_split = Some(fraction);
        self
    }

    /// Sets [`FitOptions::shuffle`].
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Sets [`FitOptions::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Appends a callback.
    pub fn callback(mut self, callback: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Sets [`FitOptions::clip_grad_norm`].
    pub fn clip_grad_norm(mut self, max_norm: f32) -> Self {
        self.clip_grad_norm = Some(max_norm);
        self
    }

    /// Sets [`FitOptions::verbose`].
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Sets [`FitOptions::skip_nonfinite`].
    pub fn skip_nonfinite(mut self, skip: bool) -> Self {
        self.skip_nonfinite = skip;
        self
    }
}

/// Training and validation data after `validation_split` is applied.
struct FitData {
    x: Tensor,
    y: Tensor,
    validation: Option<(Tensor, Tensor)>,
}

impl<N: Module> Model<N> {
    /// Trains for `epochs` passes over `(x, y)` in shuffled batches of
    /// `batch_size` rows, and returns the loss and metrics of each epoch.
    ///
    /// Shapes: x (N, ...) inputs and y (N, ...) targets with the same number
    /// of rows N. An MLP takes (N, features) and (N,) class ids, and a GPT
    /// takes (N, T) token ids and (N, T) next-token ids.
    ///
    /// This is [`Model::fit_with`] with the other [`FitOptions`] at their
    /// defaults.
    pub fn fit(&mut self, x: &Tensor, y: &Tensor, epochs: usize, batch_size: usize) -> Result<History> {
        self.fit_with(x, y, FitOptions::new(epochs, batch_size))
    }

    /// Trains on `(x, y)` with all the [`FitOptions`].
    ///
    /// Each batch runs one training step: forward → loss → zero gradients →
    /// backward → clip → optimizer step, then the metrics and
    /// [`Callback::on_step_end`]. After each epoch the validation data, if
    /// any, is evaluated, the epoch is recorded in the [`History`], and
    /// [`Callback::on_epoch_end`] runs. The network is in training mode
    /// during the steps and in evaluation mode otherwise.
    ///
    /// Fails before training when the model is not compiled, `epochs` or
    /// `batch_size` is 0, `x` and `y` differ in length or are empty,
    /// `validation_split` is outside (0, 1) or leaves either part empty, or
    /// both `validation_data` and `validation_split` are set. Fails during
    /// training when shapes do not fit the model, a callback fails, or the
    /// loss or gradient norm is NaN or infinite ([`TrainError::Diverged`];
    /// with [`FitOptions::skip_nonfinite`], only after
    /// [`crate::MAX_CONSECUTIVE_SKIPS`] skipped batches in a row).
    pub fn fit_with(&mut self, x: &Tensor, y: &Tensor, mut options: FitOptions) -> Result<History> {
        const OP: &str = "fit";
        self.compiled(OP)?;
        if options.epochs == 0 {
            return Err(TrainError::invalid(OP, "epochs is 0; it must be at least 1"));
        }
        check_batch_size(OP, options.batch_size)?;
        check_clip(OP, options.clip_grad_norm)?;
        let data = split_validation(x, y, &options)?;

        let params = self.net.parameters();
        let mut callbacks = std::mem::take(&mut options.callbacks);
        for callback in callbacks.iter_mut() {
            callback.on_train_begin(&params)?;
        }

        self.net.set_training(true);
        let result = self.run_epochs(&data, &options, &params, &mut callbacks);
        self.net.set_training(false);
        let history = result?;

        for callback in callbacks.iter_mut() {
            callback.on_train_end(&history, &params)?;
        }
        Ok(history)
    }

    /// Runs the epoch loop of [`Model::fit_with`], with the network in training mode.
    fn run_epochs(
        &mut self,
        data: &FitData,
        options: &FitOptions,
        params: &[Parameter],
        callbacks: &mut [Box<dyn Callback>],
    ) -> Result<History> {
        const OP: &str = "fit";
        let rows = data.x.shape()[0];
        let batches_per_epoch = rows.div_ceil(options.batch_size);
        let total_steps = batches_per_epoch * options.epochs;
        let mut rng = Rng::seed(options.seed);
        let mut progress = Progress::new(options.verbose);
        let mut history = History::new();
        let mut guard = NonfiniteGuard::new(options.skip_nonfinite, NonfiniteState::default());
        let mut step = 0;

        for epoch in 0..options.epochs {
            let optimizer = self.compiled.as_mut().expect("checked by fit_with").optimizer.as_mut();
            if run_hooks(callbacks, optimizer, |callback, control| callback.on_epoch_begin(epoch, control))? {
                history.mark_stopped_early();
                break;
            }

            let mut order: Vec<usize> = (0..rows).collect();
            if options.shuffle {
                rng.shuffle(&mut order);
            }

            progress.begin_epoch(epoch, options.epochs, batches_per_epoch);
            let started = Instant::now();
            let mut position = Position { progress: &mut progress, history: &mut history, guard: &mut guard, step: &mut step };
            let EpochRun { running, rows_done, mut stop } =
                self.train_epoch(data, &order, options, params, callbacks, &mut position, total_steps)?;
            let samples_per_s = per_second(rows_done, started);

            let mut values = running.values("");
            if let Some((x_val, y_val)) = &data.validation {
                let batches = batch_ranges(x_val.shape()[0], options.batch_size)
                    .map(|(start, len)| Ok((x_val.narrow(0, start, len)?, y_val.narrow(0, start, len)?)));
                values.extend(self.validate(OP, batches)?);
            }
            history.record(Some(epoch), step, &values);

            let optimizer = self.compiled.as_mut().expect("checked by fit_with").optimizer.as_mut();
            let logs = EpochLogs { epochs: options.epochs, step, values, lr: optimizer.learning_rate(), samples_per_s };
            progress.end_epoch(epoch, &logs);
            stop |= run_hooks(callbacks, optimizer, |callback, control| {
                callback.on_epoch_end(epoch, &logs, params, control)
            })?;

            if stop {
                let finished_every_batch = rows_done == rows;
                if epoch + 1 < options.epochs || !finished_every_batch {
                    history.mark_stopped_early();
                }
                break;
            }
        }
        progress.finish();
        Ok(history)
    }

    /// Runs one optimizer step per batch of `order`, calling
    /// [`Callback::on_step_end`] after each, until the rows run out or a
    /// callback asks to stop.
    #[allow(clippy::too_many_arguments)]
    fn train_epoch(
        &mut self,
        data: &FitData,
        order: &[usize],
        options: &FitOptions,
        params: &[Parameter],
        callbacks: &mut [Box<dyn Callback>],
        position: &mut Position<'_>,
        total_steps: usize,
    ) -> Result<EpochRun> {
        const OP: &str = "fit";
        let mut running = RunningMetrics::new(&self.compiled(OP)?.metrics);
        let started = Instant::now();
        let mut rows_done = 0;

        for (start, len) in batch_ranges(order.len(), options.batch_size) {
            let (x, y) = if options.shuffle {
                let indices = &order[start..start + len];
                (take_rows(&data.x, indices)?, take_rows(&data.y, indices)?)
            } else {
                (data.x.narrow(0, start, len)?, data.y.narrow(0, start, len)?)
            };
            *position.step += 1;
            let step = *position.step;
            let step_started = Instant::now();
            let result = self.train_step(OP, params, &x, &y, options.clip_grad_norm, step);
            let optimizer = self.compiled.as_mut().expect("checked by fit_with").optimizer.as_mut();
            rows_done += len;
            // A skipped batch reports no step log and adds nothing to the means.
            let Some(output) = position.guard.check(result, optimizer, callbacks, position.history)? else {
                continue;
            };
            running.add(output.loss, &output.logits, &y, len)?;

            let optimizer = self.compiled.as_mut().expect("checked by fit_with").optimizer.as_mut();
            let log = StepLog {
                step,
                steps: total_steps,
                loss: output.loss,
                lr: optimizer.learning_rate(),
                tokens_per_s: per_second(len, step_started),
                val_loss: None,
                grad_norm: output.grad_norm,
            };
            let stop =
                run_hooks(callbacks, optimizer, |callback, control| callback.on_step_end(&log, params, control))?;
            position.progress.update_batch(&running.values(""), per_second(rows_done, started));
            if stop {
                return Ok(EpochRun { running, rows_done, stop: true });
            }
        }
        Ok(EpochRun { running, rows_done, stop: false })
    }
}

/// The run's position, carried across epochs: the progress display, the
/// history, the non-finite guard and the steps taken.
struct Position<'a> {
    progress: &'a mut Progress,
    history: &'a mut History,
    guard: &'a mut NonfiniteGuard,
    step: &'a mut usize,
}

/// The outcome of [`Model::train_epoch`].
struct EpochRun {
    running: RunningMetrics,
    rows_done: usize,
    stop: bool,
}

/// `count` divided by the seconds since `since`.
fn per_second(count: usize, since: Instant) -> f32 {
    count as f32 / since.elapsed().as_secs_f32().max(f32::MIN_POSITIVE)
}

/// Checks `(x, y)` and the validation options, and splits off the last
/// `validation_split` of the rows.
fn split_validation(x: &Tensor, y: &Tensor, options: &FitOptions) -> Result<FitData> {
    const OP: &str = "fit";
    let rows = check_xy(OP, x, y)?;
    match (&options.validation_data, options.validation_split) {
        (Some(_), Some(_)) => {
            Err(TrainError::invalid(OP, "both validation_data and validation_split are set; set only one of them"))
        }
        (Some((x_val, y_val)), None) => {
            check_xy("fit (validation_data)", x_val, y_val)?;
            Ok(FitData { x: x.clone(), y: y.clone(), validation: Some((x_val.clone(), y_val.clone())) })
        }
        (None, Some(fraction)) => {
            if !(fraction > 0.0 && fraction < 1.0) {
                return Err(TrainError::invalid(
                    OP,
                    format!("validation_split is {fraction}; it must be strictly between 0 and 1"),
                ));
            }
            // Keras keeps the first ⌊rows · (1 − fraction)⌋ rows for training,
            // computed in f64. Widening the f32 directly would turn 0.2 into
            // 0.2000000030 and 10 rows into 7, so the f32's shortest decimal
            // form is parsed instead, which gives the f64 the user wrote.
            let fraction_f64: f64 = fraction.to_string().parse().expect("a finite f32 prints as a valid f64");
            let train_rows = (rows as f64 * (1.0 - fraction_f64)).floor() as usize;
            let val_rows = rows - train_rows;
            if train_rows == 0 || val_rows == 0 {
                return Err(TrainError::invalid(
                    OP,
                    format!(
                        "validation_split {fraction} of {rows} samples leaves {train_rows} for training and \
                         {val_rows} for validation; both need at least one"
                    ),
                ));
            }
            Ok(FitData {
                x: x.narrow(0, 0, train_rows)?,
                y: y.narrow(0, 0, train_rows)?,
                validation: Some((x.narrow(0, train_rows, val_rows)?, y.narrow(0, train_rows, val_rows)?)),
            })
        }
        (None, None) => Ok(FitData { x: x.clone(), y: y.clone(), validation: None }),
    }
}
