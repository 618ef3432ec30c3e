//! `fit_batches()`: training for a number of steps on batches drawn from a
//! [`BatchSource`], as language models are trained on a token stream.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aigc_nn::{Module, Parameter};
use aigc_optim::LrSchedule;
use aigc_tensor::Rng;

use crate::batches::{check_xy, BatchSource};
use crate::callbacks::{run_hooks, Callback, StepLog};
use crate::checkpoint::{PartialSums, TrainingState};
use crate::error::{Result, TrainError};
use crate::history::History;
use crate::model::Model;
use crate::progress::Progress;
use crate::nonfinite::NonfiniteGuard;
use crate::resume::{callback_states, generator_states, restore_callbacks, Checkpointer, Resumed, RunState};
use crate::training_state::NonfiniteState;
use crate::running::RunningMetrics;
use crate::step::check_clip;

/// The settings of [`Model::fit_batches`].
///
/// ```
/// use aigc_optim::WarmupCosine;
/// use aigc_train::StepOptions;
/// let options = StepOptions::new(5000)
///     .eval_interval(250)
///     .schedule(WarmupCosine::new(1e-3, 1e-4, 100, 5000)?)
///     .clip_grad_norm(1.0);
/// assert_eq!(options.steps, 5000);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub struct StepOptions {
    /// Optimizer steps to run. Must be at least 1.
    pub steps: usize,
    /// Evaluate the validation batches, and record the [`History`], every
    /// this many steps and after the last step. Must be at least 1.
    pub eval_interval: usize,
    /// Report a [`StepLog`] (progress and [`Callback::on_step_end`]) every
    /// this many steps and at every evaluation. Must be at least 1.
    pub log_interval: usize,
    /// Sets the learning rate before each step to `schedule.lr(step)`, with
    /// steps counted from 0. It overrides a rate set by a callback from the
    /// next step on. `None` keeps the optimizer's rate.
    pub schedule: Option<Box<dyn LrSchedule>>,
    /// Maximum global L2 norm of the gradients; `None` leaves them unclipped.
    pub clip_grad_norm: Option<f32>,
    /// Seed of the generator handed to [`BatchSource::next_batch`]; the same
    /// seed gives the same batches.
    pub seed: u64,
    /// Callbacks, run in order at each hook.
    pub callbacks: Vec<Box<dyn Callback>>,
    /// Whether to show progress on stderr.
    pub verbose: bool,
    /// A saved state to continue from (see [`StepOptions::resume_from`]).
    pub resume: Option<TrainingState>,
    /// Directory to write checkpoints to (weights and training state); `None` writes none.
    pub checkpoint_dir: Option<PathBuf>,
    /// Write a checkpoint every this many steps; `None` uses `eval_interval`.
    /// A checkpoint is also written after the last step and when training stops early.
    pub checkpoint_interval: Option<usize>,
    /// A flag that, once set (for example by a Ctrl-C handler), stops
    /// training at the next step boundary, after writing a checkpoint.
    pub stop_flag: Option<Arc<AtomicBool>>,
    /// Skip a step whose loss or gradient norm is NaN or infinite instead of
    /// stopping: no weight changes, the learning rate (and every later
    /// scheduled rate) is multiplied by [`crate::NONFINITE_LR_FACTOR`], and
    /// [`Callback::on_step_skipped`] reports it. The non-finite step after
    /// [`crate::MAX_CONSECUTIVE_SKIPS`] skips in a row still stops training.
    pub skip_nonfinite: bool,
}

impl Default for StepOptions {
    /// 1000 steps, evaluation every 100, a log every 10, no schedule, no
    /// clipping, seed 0, progress shown.
    fn default() -> Self {
        StepOptions {
            steps: 1000,
            eval_interval: 100,
            log_interval: 10,
            schedule: None,
            clip_grad_norm: None,
            seed: 0,
            callbacks: Vec::new(),
            verbose: true,
            resume: None,
            checkpoint_dir: None,
            checkpoint_interval: None,
            stop_flag: None,
            skip_nonfinite: false,
        }
    }
}

impl StepOptions {
    /// Returns the defaults with `steps` set.
    pub fn new(steps: usize) -> Self {
        StepOptions { steps, ..Self::default() }
    }

    /// Sets [`StepOptions::steps`].
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }

    /// Sets [`StepOptions::eval_interval`].
    pub fn eval_interval(mut self, interval: usize) -> Self {
        self.eval_interval = interval;
        self
    }

    /// Sets [`StepOptions::log_interval`].
    pub fn log_interval(mut self, interval: usize) -> Self {
        self.log_interval = interval;
        self
    }

    /// Sets [`StepOptions::schedule`].
    pub fn schedule(mut self, schedule: impl LrSchedule + 'static) -> Self {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// Sets [`StepOptions::clip_grad_norm`].
    pub fn clip_grad_norm(mut self, max_norm: f32) -> Self {
        self.clip_grad_norm = Some(max_norm);
        self
    }

    /// Sets [`StepOptions::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Appends a callback.
    pub fn callback(mut self, callback: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Sets [`StepOptions::verbose`].
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Continues a run from `state`, as saved in a checkpoint: training
    /// starts at step `state.step + 1` with the saved optimizer state, batch
    /// generators, dropout generators, callback states and partial sums, so
    /// every later loss equals the one an uninterrupted run with the same
    /// seed, callbacks and thread count computes, bit for bit. The model
    /// must already hold the checkpoint's weights (load both with
    /// [`crate::checkpoint::load_checkpoint`]), and [`StepOptions::seed`] is
    /// replaced by the state's.
    pub fn resume_from(mut self, state: TrainingState) -> Self {
        self.resume = Some(state);
        self
    }

    /// Sets [`StepOptions::checkpoint_dir`].
    pub fn checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint_dir = Some(dir.into());
        self
    }

    /// Sets [`StepOptions::checkpoint_interval`].
    pub fn checkpoint_interval(mut self, interval: usize) -> Self {
        self.checkpoint_interval = Some(interval);
        self
    }

    /// Sets [`StepOptions::stop_flag`].
    pub fn stop_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop_flag = Some(flag);
        self
    }

    /// Sets [`StepOptions::skip_nonfinite`].
    pub fn skip_nonfinite(mut self, skip: bool) -> Self {
        self.skip_nonfinite = skip;
        self
    }
}

/// Loss, step count, tokens and training time since the last step log.
#[derive(Default)]
struct LogWindow {
    loss_sum: f64,
    steps: usize,
    tokens: usize,
    time: Duration,
}

impl<N: Module> Model<N> {
    /// Trains for `options.steps` optimizer steps on batches drawn from
    /// `batches`, and returns a [`History`] with one record per evaluation.
    ///
    /// Each step: set the scheduled learning rate, draw a batch, then
    /// forward → loss → zero gradients → backward → clip → optimizer step.
    /// Every `eval_interval` steps and after the last one, the mean training
    /// loss and metrics since the previous evaluation and, when the source
    /// has validation batches, `val_loss` and the `val_` metrics are
    /// recorded. Every `log_interval` steps and at each evaluation a
    /// [`StepLog`] goes to the progress display and [`Callback::on_step_end`].
    ///
    /// The batch generator is seeded with `options.seed`, and validation
    /// batches are drawn from a second generator derived from it, so the
    /// training batches do not depend on how often the model is evaluated.
    ///
    /// With [`StepOptions::checkpoint_dir`], a checkpoint (see
    /// [`crate::checkpoint::save_checkpoint`]) is written every
    /// `checkpoint_interval` steps, after the last step, and when training
    /// stops early: by a callback, or by [`StepOptions::stop_flag`] at the
    /// next step boundary. [`StepOptions::resume_from`] continues a run from
    /// such a checkpoint.
    ///
    /// Fails before training when the model is not compiled, `steps`,
    /// `eval_interval`, `log_interval` or `checkpoint_interval` is 0, or the
    /// resume state does not fit the model, its optimizer or `steps`; during
    /// training when a batch does not fit the model, the source, a callback
    /// or a checkpoint write fails, or the loss or gradient norm is NaN or
    /// infinite ([`TrainError::Diverged`], which names the last checkpoint;
    /// with [`StepOptions::skip_nonfinite`], only after
    /// [`crate::MAX_CONSECUTIVE_SKIPS`] skipped steps in a row).
    pub fn fit_batches(&mut self, batches: &mut dyn BatchSource, mut options: StepOptions) -> Result<History> {
        const OP: &str = "fit_batches";
        self.compiled(OP)?;
        for (name, value) in
            [("steps", options.steps), ("eval_interval", options.eval_interval), ("log_interval", options.log_interval)]
        {
            if value == 0 {
                return Err(TrainError::invalid(OP, format!("{name} is 0; it must be at least 1")));
            }
        }
        if options.checkpoint_interval == Some(0) {
            return Err(TrainError::invalid(OP, "checkpoint_interval is 0; it must be at least 1"));
        }
        check_clip(OP, options.clip_grad_norm)?;

        let params = self.net.parameters();
        let mut resumed = match options.resume.take() {
            Some(state) => Some(self.restore(state, &options, &params)?),
            None => None,
        };
        let mut callbacks = std::mem::take(&mut options.callbacks);
        for callback in callbacks.iter_mut() {
            callback.on_train_begin(&params)?;
        }
        if let Some(saved) = resumed.as_mut().and_then(|resumed| resumed.callbacks.take()) {
            restore_callbacks(&mut callbacks, &saved)?;
        }

        self.net.set_training(true);
        let result = self.run_steps(batches, &options, resumed, &params, &mut callbacks);
        self.net.set_training(false);
        let history = result?;

        for callback in callbacks.iter_mut() {
            callback.on_train_end(&history, &params)?;
        }
        Ok(history)
    }

    /// Runs the step loop of [`Model::fit_batches`], with the network in training mode.
    fn run_steps(
        &mut self,
        batches: &mut dyn BatchSource,
        options: &StepOptions,
        resumed: Option<Resumed>,
        params: &[Parameter],
        callbacks: &mut [Box<dyn Callback>],
    ) -> Result<History> {
        const OP: &str = "fit_batches";
        let metrics = self.compiled(OP)?.metrics.clone();
        let mut progress = Progress::new(options.verbose);
        let mut history = History::new();
        let seed = resumed.as_ref().map_or(options.seed, |resumed| resumed.seed);
        let mut checkpointer = Checkpointer::new(options, seed);
        let nonfinite = resumed.as_ref().map_or_else(NonfiniteState::default, |resumed| resumed.nonfinite);
        let mut guard = NonfiniteGuard::new(options.skip_nonfinite, nonfinite);

        let (start, mut rng, mut validation_rng, mut since_eval, mut window) = match resumed {
            Some(resumed) => {
                let window = LogWindow {
                    loss_sum: resumed.partial.log_loss_sum,
                    steps: resumed.partial.log_steps,
                    tokens: resumed.partial.log_tokens,
                    time: Duration::ZERO,
                };
                let since_eval = RunningMetrics::from_sums(
                    &metrics,
                    resumed.partial.eval_rows,
                    resumed.partial.eval_loss_sum,
                    resumed.partial.eval_metric_sums,
                );
                (resumed.step, resumed.rng, resumed.validation_rng, since_eval, window)
            }
            None => {
                let mut rng = Rng::seed(options.seed);
                let validation_rng = Rng::seed(rng.next_u64());
                (0, rng, validation_rng, RunningMetrics::new(&metrics), LogWindow::default())
            }
        };

        progress.begin_steps(options.steps);
        for _ in 0..start {
            progress.advance_step();
        }
        for index in start..options.steps {
            let step = index + 1;
            let step_started = Instant::now();
            let optimizer = self.compiled.as_mut().expect("checked by fit_batches").optimizer.as_mut();
            if let Some(schedule) = &options.schedule {
                optimizer.set_learning_rate(schedule.lr(index) * guard.lr_scale());
            }
            let lr = optimizer.learning_rate();

            let (x, y) = batches.next_batch(&mut rng)?;
            let rows = check_xy("fit_batches (next_batch)", &x, &y)?;
            let result = self.train_step(OP, params, &x, &y, options.clip_grad_norm, step);
            let optimizer = self.compiled.as_mut().expect("checked by fit_batches").optimizer.as_mut();
            let output = guard
                .check(result, optimizer, callbacks, &mut history)
                .map_err(|error| checkpointer.name_last_checkpoint(error))?;
            // A skipped step adds nothing to the loss means, since its loss is not finite.
            let grad_norm = match &output {
                Some(output) => {
                    since_eval.add(output.loss, &output.logits, &y, rows)?;
                    window.loss_sum += f64::from(output.loss);
                    window.steps += 1;
                    output.grad_norm
                }
                None => f32::NAN,
            };
            window.tokens += batches.tokens_per_batch();
            window.time += step_started.elapsed();
            progress.advance_step();

            let mut stop_by_callback = false;
            let evaluate_now = step % options.eval_interval == 0 || step == options.steps;
            let log_now = evaluate_now || step % options.log_interval == 0;
            let mut val_loss = None;
            if evaluate_now {
                let mut values = since_eval.values("");
                let validation = batches.validation_batches(&mut validation_rng)?;
                if !validation.is_empty() {
                    let evaluation = self.validate("fit_batches (validation)", validation.into_iter().map(Ok))?;
                    val_loss = evaluation.first().map(|(_, loss)| *loss);
                    values.extend(evaluation);
                }
                history.record(None, step, &values);
                since_eval = RunningMetrics::new(&metrics);
            }

            if log_now {
                let log = StepLog {
                    step,
                    steps: options.steps,
                    loss: (window.loss_sum / window.steps as f64) as f32,
                    lr,
                    tokens_per_s: window.tokens as f32 / window.time.as_secs_f32().max(f32::MIN_POSITIVE),
                    val_loss,
                    grad_norm,
                };
                window = LogWindow::default();
                progress.log_step(&log);
                let optimizer = self.compiled.as_mut().expect("checked by fit_batches").optimizer.as_mut();
                stop_by_callback =
                    run_hooks(callbacks, optimizer, |callback, control| callback.on_step_end(&log, params, control))?;
            }

            let interrupted = options.stop_flag.as_ref().is_some_and(|flag| flag.load(Ordering::SeqCst));
            let stop = stop_by_callback || interrupted;
            if checkpointer.is_due(step, stop || step == options.steps) {
                let run = RunState {
                    optimizer: self.compiled.as_ref().expect("checked by fit_batches").optimizer.as_ref(),
                    rng: &rng,
                    validation_rng: &validation_rng,
                    partial: window.partial_sums(&since_eval),
                    generators: generator_states(&self.net),
                    callbacks: callback_states(callbacks)?,
                    nonfinite: guard.state(),
                };
                checkpointer.save(params, step, run)?;
            }
            if stop {
                if step < options.steps {
                    history.mark_stopped_early();
                }
                break;
            }
        }
        progress.finish();
        Ok(history)
    }
}

impl LogWindow {
    /// The sums a checkpoint saves, so a resumed run reports the same means.
    fn partial_sums(&self, since_eval: &RunningMetrics) -> PartialSums {
        let (eval_rows, eval_loss_sum, eval_metric_sums) = since_eval.sums();
        PartialSums {
            eval_rows,
            eval_loss_sum,
            eval_metric_sums: eval_metric_sums.to_vec(),
            log_loss_sum: self.loss_sum,
            log_steps: self.steps,
            log_tokens: self.tokens,
        }
    }
}
