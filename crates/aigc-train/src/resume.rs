//! Checkpoints inside [`crate::Model::fit_batches`]: restoring a saved
//! [`TrainingState`] before the first step, and writing one at intervals,
//! at the end and when training stops early.

use std::path::PathBuf;

use aigc_nn::{Module, Parameter};
use aigc_tensor::Rng;

use crate::checkpoint::{save_checkpoint, weights_digest, PartialSums, TrainingState};
use crate::error::{Result, TrainError};
use crate::fit_batches::StepOptions;
use crate::model::Model;

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
        let optimizer = self.compiled.as_mut().ok_or(TrainError::NotCompiled { op: OP })?.optimizer.as_mut();
        optimizer.load_state(state.optimizer)?;
        Ok(Resumed {
            step,
            seed: state.seed,
            rng: state.rng,
            validation_rng: state.validation_rng,
            partial: state.partial,
        })
    }
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
    pub(crate) fn save(
        &mut self,
        params: &[Parameter],
        step: usize,
        optimizer: &dyn aigc_optim::Optimizer,
        rng: &Rng,
        validation_rng: &Rng,
        partial: PartialSums,
    ) -> Result<()> {
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
            optimizer: optimizer.state(),
            rng: rng.clone(),
            validation_rng: validation_rng.clone(),
            seed: self.seed,
            threads: rayon::current_num_threads(),
            // Filled in by save_checkpoint.
            weights_sha256: String::new(),
            partial,
        };
        save_checkpoint(dir, params, state)?;
        self.last_step = Some(step);
        Ok(())
    }

    /// Adds the last checkpoint written to a [`TrainError::Diverged`], so
    /// the message says where to resume from.
    pub(crate) fn name_last_checkpoint(&self, error: TrainError) -> TrainError {
        match (error, &self.dir, self.last_step) {
            (TrainError::Diverged { op, step, loss, grad_norm, .. }, Some(dir), Some(saved)) => {
                TrainError::Diverged { op, step, loss, grad_norm, last_checkpoint: Some((saved, dir.clone())) }
            }
            (error, _, _) => error,
        }
    }
}
