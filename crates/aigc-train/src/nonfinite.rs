//! The non-finite guard: what training does with a step whose loss or
//! gradient norm is NaN or infinite.
//!
//! By default such a step stops training with [`TrainError::Diverged`]
//! before any weight changes. With `skip_nonfinite` on, the step is skipped
//! instead (no update, the batch is used up), the learning rate is
//! multiplied by [`NONFINITE_LR_FACTOR`], and [`Callback::on_step_skipped`]
//! reports it. A step that is non-finite after [`MAX_CONSECUTIVE_SKIPS`]
//! skips in a row still stops training, because by then the weights
//! themselves are the likely cause and a lower rate cannot help.

use aigc_optim::Optimizer;

use crate::callbacks::{Callback, SkippedStep};
use crate::error::{Result, TrainError};
use crate::history::History;
use crate::step::StepOutput;
use crate::training_state::NonfiniteState;

/// The factor each skipped step applies to the learning rate: it halves it.
pub const NONFINITE_LR_FACTOR: f32 = 0.5;

/// The maximum number of non-finite steps skipped in a row. The next one
/// stops training, when the rate is down to 1/32 of the scheduled one.
pub const MAX_CONSECUTIVE_SKIPS: usize = 5;

/// Decides, step by step, whether a non-finite step is skipped or stops training.
pub(crate) struct NonfiniteGuard {
    skip: bool,
    state: NonfiniteState,
}

impl NonfiniteGuard {
    /// Creates a guard that skips non-finite steps when `skip` is set, continuing from `state`.
    pub(crate) fn new(skip: bool, state: NonfiniteState) -> Self {
        NonfiniteGuard { skip, state }
    }

    /// Returns the state a checkpoint saves.
    pub(crate) fn state(&self) -> NonfiniteState {
        self.state
    }

    /// Returns the factor a scheduled learning rate is multiplied by: 1 until a step is skipped.
    pub(crate) fn lr_scale(&self) -> f32 {
        self.state.lr_scale
    }

    /// Passes a finite step through and returns its output. A diverged step
    /// is skipped, when skipping is on and the limit is not reached: the
    /// learning rate is lowered, the skip is recorded in `history` and
    /// reported to the callbacks, and `None` is returned. Otherwise the
    /// error is returned, with the number of steps skipped before it.
    pub(crate) fn check(
        &mut self,
        result: Result<StepOutput>,
        optimizer: &mut dyn Optimizer,
        callbacks: &mut [Box<dyn Callback>],
        history: &mut History,
    ) -> Result<Option<StepOutput>> {
        let (op, step, loss, grad_norm, last_checkpoint) = match result {
            Ok(output) => {
                self.state.consecutive_skips = 0;
                return Ok(Some(output));
            }
            Err(TrainError::Diverged { op, step, loss, grad_norm, last_checkpoint, .. }) => {
                (op, step, loss, grad_norm, last_checkpoint)
            }
            Err(error) => return Err(error),
        };
        let skipped = self.state.consecutive_skips as usize;
        if !self.skip || skipped >= MAX_CONSECUTIVE_SKIPS {
            return Err(TrainError::Diverged { op, step, loss, grad_norm, skipped, last_checkpoint });
        }

        self.state.consecutive_skips += 1;
        self.state.lr_scale *= NONFINITE_LR_FACTOR;
        let lr = optimizer.learning_rate() * NONFINITE_LR_FACTOR;
        optimizer.set_learning_rate(lr);
        history.record_skipped(step);
        let report =
            SkippedStep { step, loss, grad_norm, lr, lr_scale: self.state.lr_scale, consecutive: skipped + 1 };
        for callback in callbacks.iter_mut() {
            callback.on_step_skipped(&report)?;
        }
        Ok(None)
    }
}
