//! Checkpoints inside [`crate::Model::fit_batches`]: restoring a saved
//! [`TrainingState`] (optimizer, generators, callbacks) before the first
//! step, and writing one at intervals, at the end and when training stops early.

use std::path::PathBuf;

use aigc_nn::{Module, Parameter};
use aigc_tensor::Rng;

use crate::callbacks::Callback;
use crate::checkpoint::{save_checkpoint, weights_digest, PartialSums, TrainingState};
use crate::error::{Result, TrainError};
use crate::fit_batches::StepOptions;
use crate::model::Model;
use crate::training_state::{CallbackState, GeneratorState, NonfiniteState};

const OP: &str = "fit_batches (resume)";

/// What the step loop continues from when it resumes a run.
pub(crate) struct Resumed {
    /// Steps already taken.
    pub(crate) step: usize,
    /// The seed the run started from.
    pub(crate) seed: u64,
    /// The training-batch generator.
    pub(crate) rng: Rng,
    /// The validation-batch generator.
    pub(crate) validation_rng: Rng,
    /// The sums since the last evaluation and step log.
    pub(crate) partial: PartialSums,
    /// The callbacks' states, for [`restore_callbacks`]; `None` from a version-2 file.
    pub(crate) callbacks: Option<Vec<CallbackState>>,
    /// The non-finite guard's learning-rate factor and skip count.
    pub(crate) nonfinite: NonfiniteState,
}

impl<N: Module> Model<N> {
    /// Checks `state` against the model and `options`, and loads its
    /// optimizer state into the compiled optimizer.
    pub(crate) fn restore(&mut self, state: TrainingState, options: &StepOptions, params: &[Parameter]) -> Result<Resumed> {
        let step = usize::try_from(state.step)
            .map_err(|_| TrainError::invalid(OP, format!("the saved step {} does not fit in usize", state.step)))?;
        if step >= options.steps {
            return Err(TrainError::invalid(
                OP,
                format!("the checkpoint is at step {step}, and the run asks for {} steps; ask for more steps to continue it", options.steps),
            ));
        }
        let metrics = self.compiled(OP)?.metrics.len();
        if state.partial.eval_metric_sums.len() != metrics {
            return Err(TrainError::invalid(
                OP,
                format!(
                    "the checkpoint was trained with {} metrics but the model is compiled with {metrics}; compile it with the same metrics",
                    state.partial.eval_metric_sums.len()
                ),
            ));
        }
        let digest = weights_digest(params);
        if digest != state.weights_sha256 {
            return Err(TrainError::invalid(
                OP,
                format!(
                    "the model's weights (SHA-256 {digest}) are not the ones the training state was saved with ({}); load both with checkpoint::load_checkpoint",
                    state.weights_sha256
                ),
            ));
        }
        if let Some(saved) = &state.generators {
            restore_generators(&self.net, saved)?;
        }
        let optimizer = self.compiled.as_mut().ok_or(TrainError::NotCompiled { op: OP })?.optimizer.as_mut();
        optimizer.load_state(state.optimizer)?;
        Ok(Resumed {
            step,
            seed: state.seed,
            rng: state.rng,
            validation_rng: state.validation_rng,
            partial: state.partial,
            callbacks: state.callbacks,
            nonfinite: state.nonfinite,
        })
    }
}

/// Returns the states of the model's random generators, to save in a checkpoint.
pub(crate) fn generator_states(net: &dyn Module) -> Vec<GeneratorState> {
    net.generators().into_iter().map(|g| GeneratorState { rng: g.state(), name: g.name }).collect()
}

/// Puts saved generator states back into the model's generators, which must
/// have the same names in the same order. Checks every name before changing any.
fn restore_generators(net: &dyn Module, saved: &[GeneratorState]) -> Result<()> {
    let generators = net.generators();
    let names = |names: Vec<&str>| if names.is_empty() { "none".to_string() } else { names.join(", ") };
    let differ = generators.len() != saved.len() || generators.iter().zip(saved).any(|(g, s)| g.name != s.name);
    if differ {
        return Err(TrainError::invalid(
            OP,
            format!(
                "the checkpoint saved the random generators [{}] but the model has [{}]; resume with the model the checkpoint was saved from",
                names(saved.iter().map(|s| s.name.as_str()).collect()),
                names(generators.iter().map(|g| g.name.as_str()).collect())
            ),
        ));
    }
    for (generator, state) in generators.iter().zip(saved) {
        generator.set_state(state.rng.clone());
    }
    Ok(())
}

/// Returns the states of the callbacks that keep one, in callback order.
pub(crate) fn callback_states(callbacks: &[Box<dyn Callback>]) -> Result<Vec<CallbackState>> {
    let mut states = Vec::new();
    for callback in callbacks {
        if let Some(state) = callback.state()? {
            states.push(state);
        }
    }
    Ok(states)
}

/// Gives each saved callback state back to the callback it came from: the
/// callbacks that keep a state must be of the saved kinds, in the saved
/// order. Call it after [`Callback::on_train_begin`], which resets them.
pub(crate) fn restore_callbacks(callbacks: &mut [Box<dyn Callback>], saved: &[CallbackState]) -> Result<()> {
    let mut stateful = Vec::new();
    for (index, callback) in callbacks.iter().enumerate() {
        if let Some(state) = callback.state()? {
            stateful.push((index, state.kind));
        }
    }
    let kinds_match = stateful.len() == saved.len() && stateful.iter().zip(saved).all(|((_, kind), s)| *kind == s.kind);
    if !kinds_match {
        let list = |kinds: Vec<&str>| if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") };
        return Err(TrainError::invalid(
            OP,
            format!(
                "the checkpoint holds the states of the callbacks [{}] but this run's callbacks keep [{}]; pass the same callbacks, in the same order, as the run that saved it",
                list(saved.iter().map(|s| s.kind.as_str()).collect()),
                list(stateful.iter().map(|(_, kind)| kind.as_str()).collect())
            ),
        ));
    }
    for ((index, _), state) in stateful.iter().zip(saved) {
        callbacks[*index].load_state(state)?;
    }
    Ok(())
}

/// The run's position, generators and counters, which
/// [`Checkpointer::save`] writes beside the weights.
pub(crate) struct RunState<'a> {
    /// The compiled optimizer.
    pub(crate) optimizer: &'a dyn aigc_optim::Optimizer,
    /// The training-batch generator.
    pub(crate) rng: &'a Rng,
    /// The validation-batch generator.
    pub(crate) validation_rng: &'a Rng,
    /// The sums since the last evaluation and step log.
    pub(crate) partial: PartialSums,
    /// The model's random generators.
    pub(crate) generators: Vec<GeneratorState>,
    /// The callbacks' states.
    pub(crate) callbacks: Vec<CallbackState>,
    /// The non-finite guard's state.
    pub(crate) nonfinite: NonfiniteState,
}

/// Writes the checkpoints of one `fit_batches` run and remembers the last one.
pub(crate) struct Checkpointer {
    dir: Option<PathBuf>,
    interval: usize,
    seed: u64,
    total_steps: usize,
    last_step: Option<usize>,
}

impl Checkpointer {
    /// A writer for the checkpoints that `options` asks for, in a run that started from `seed`.
    pub(crate) fn new(options: &StepOptions, seed: u64) -> Self {
        Checkpointer {
            dir: options.checkpoint_dir.clone(),
            interval: options.checkpoint_interval.unwrap_or(options.eval_interval),
            seed,
            total_steps: options.steps,
            last_step: None,
        }
    }

    /// Returns whether a checkpoint is due after `step`: at each interval,
    /// and when `last` (the run ends or stops here).
    pub(crate) fn is_due(&self, step: usize, last: bool) -> bool {
        self.dir.is_some() && (last || step % self.interval == 0)
    }

    /// Writes the checkpoint of `step`.
    pub(crate) fn save(&mut self, params: &[Parameter], step: usize, run: RunState<'_>) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        if self.last_step == Some(step) {
            return Ok(());
        }
        // Weights that turned NaN must not replace the last good checkpoint.
        if let Some(param) = params.iter().find(|p| p.var.value().to_vec().iter().any(|v| !v.is_finite())) {
            return Err(TrainError::invalid(
                "fit_batches",
                format!(
                    "parameter {:?} holds a value that is not finite (NaN or infinite) after step {step}, so no checkpoint was written; the last checkpoint in {} is kept",
                    param.name,
                    dir.display()
                ),
            ));
        }
        let state = TrainingState {
            step: step as u64,
            total_steps: self.total_steps as u64,
            optimizer: run.optimizer.state(),
            rng: run.rng.clone(),
            validation_rng: run.validation_rng.clone(),
            seed: self.seed,
            threads: rayon::current_num_threads(),
            // Filled in by save_checkpoint.
            weights_sha256: String::new(),
            partial: run.partial,
            generators: Some(run.generators),
            callbacks: Some(run.callbacks),
            nonfinite: run.nonfinite,
            precision: Some(aigc_tensor::gemm::matmul_precision().name().to_string()),
        };
        save_checkpoint(dir, params, state)?;
        self.last_step = Some(step);
        Ok(())
    }

    /// Adds the last checkpoint written to a [`TrainError::Diverged`], so
    /// the message says where to resume from.
    pub(crate) fn name_last_checkpoint(&self, error: TrainError) -> TrainError {
        match (error, &self.dir, self.last_step) {
            (TrainError::Diverged { op, step, loss, grad_norm, skipped, .. }, Some(dir), Some(saved)) => {
                TrainError::Diverged { op, step, loss, grad_norm, skipped, last_checkpoint: Some((saved, dir.clone())) }
            }
            (error, _, _) => error,
        }
    }
}
