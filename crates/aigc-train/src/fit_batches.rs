//! `fit_batches()`: training for a number of steps on batches drawn from a
//! [`BatchSource`], as language models are trained on a token stream.

use std::time::{Duration, Instant};

use aigc_nn::{Module, Parameter};
use aigc_optim::LrSchedule;
use aigc_tensor::Rng;

use crate::batches::{check_xy, BatchSource};
use crate::callbacks::{run_hooks, Callback, StepLog};
use crate::error::{Result, TrainError};
use crate::history::History;
use crate::model::Model;
use crate::progress::Progress;
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
    /// Fails before training when the model is not compiled or `steps`,
    /// `eval_interval` or `log_interval` is 0; during training when a batch
    /// does not fit the model, the source or a callback fails, or the loss
    /// diverges ([`TrainError::Diverged`]).
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
        check_clip(OP, options.clip_grad_norm)?;

        let params = self.net.parameters();
        let mut callbacks = std::mem::take(&mut options.callbacks);
        for callback in callbacks.iter_mut() {
            callback.on_train_begin(&params)?;
        }

        self.net.set_training(true);
        let result = self.run_steps(batches, &options, &params, &mut callbacks);
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
        params: &[Parameter],
        callbacks: &mut [Box<dyn Callback>],
    ) -> Result<History> {
        const OP: &str = "fit_batches";
        let metrics = self.compiled(OP)?.metrics.clone();
        let mut rng = Rng::seed(options.seed);
        let mut validation_rng = Rng::seed(rng.next_u64());
        let mut progress = Progress::new(options.verbose);
        let mut history = History::new();
        let mut since_eval = RunningMetrics::new(&metrics);
        let mut window = LogWindow::default();

        progress.begin_steps(options.steps);
        for index in 0..options.steps {
            let step = index + 1;
            let step_started = Instant::now();
            let optimizer = self.compiled.as_mut().expect("checked by fit_batches").optimizer.as_mut();
            if let Some(schedule) = &options.schedule {
                optimizer.set_learning_rate(schedule.lr(index));
            }
            let lr = optimizer.learning_rate();

            let (x, y) = batches.next_batch(&mut rng)?;
            let rows = check_xy("fit_batches (next_batch)", &x, &y)?;
            let output = self.train_step(OP, params, &x, &y, options.clip_grad_norm, step)?;
            since_eval.add(output.loss, &output.logits, &y, rows)?;
            window.loss_sum += f64::from(output.loss);
            window.steps += 1;
            window.tokens += batches.tokens_per_batch();
            window.time += step_started.elapsed();
            progress.advance_step();

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
                    grad_norm: output.grad_norm,
                };
                window = LogWindow::default();
                progress.log_step(&log);
                let optimizer = self.compiled.as_mut().expect("checked by fit_batches").optimizer.as_mut();
                let stop =
                    run_hooks(callbacks, optimizer, |callback, control| callback.on_step_end(&log, params, control))?;
                if stop {
                    if step < options.steps {
                        history.mark_stopped_early();
                    }
                    break;
                }
            }
        }
        progress.finish();
        Ok(history)
    }
}
