//! One training step, shared by [`Model::fit`] and [`Model::fit_batches`].

use aigc_autograd::{Tensor, Var};
use aigc_nn::{Module, Parameter};

use crate::error::{Result, TrainError};
use crate::model::Model;

/// The results of a training step.
pub(crate) struct StepOutput {
    /// The batch's mean loss.
    pub(crate) loss: f32,
    /// The outputs computed in the forward pass, for the metrics.
    pub(crate) logits: Tensor,
    /// Global L2 norm of the gradients before clipping.
    pub(crate) grad_norm: f32,
}

impl<N: Module> Model<N> {
    /// Runs one optimizer step on the batch `(x, y)`.
    ///
    /// Fails before updating any weight when the loss or the gradient norm is
    /// NaN or infinite, because the update would spread it into every weight.
    pub(crate) fn train_step(
        &mut self,
        op: &'static str,
        params: &[Parameter],
        x: &Tensor,
        y: &Tensor,
        clip_grad_norm: Option<f32>,
        step: usize,
    ) -> Result<StepOutput> {
        let compiled = self.compiled.as_mut().ok_or(TrainError::NotCompiled { op })?;

        // 1. Forward: logits (B, ..., C).
        let logits = self.net.forward(&Var::new(x.clone()))?;

        // 2. Loss: a scalar, the mean over the batch.
        let loss = compiled.loss.compute(&logits, y)?;
        let loss_value = loss.value().item()?;

        // 3. Zero the gradients left by the previous step.
        for param in params {
            param.var.zero_grad();
        }

        // 4. Backward: ∂loss/∂p into every parameter's gradient.
        loss.backward()?;
        let logits = logits.value();
        // Dropping the graph releases the tensors it shares with the
        // parameters, so the optimizer can update them in place.
        drop(loss);

        // 5. Clip the global gradient norm.
        let grad_norm = match clip_grad_norm {
            Some(max_norm) => aigc_optim::clip_grad_norm(params, max_norm)?,
            None => aigc_optim::grad_norm(params),
        };
        if !loss_value.is_finite() || !grad_norm.is_finite() {
            return Err(TrainError::Diverged { op, step, loss: loss_value, grad_norm, skipped: 0, last_checkpoint: None });
        }

        // 6. Optimizer step.
        compiled.optimizer.step(params)?;

        Ok(StepOutput { loss: loss_value, logits, grad_norm })
    }
}

/// Fails when `max_norm` is set but not a positive number.
pub(crate) fn check_clip(op: &'static str, clip_grad_norm: Option<f32>) -> Result<()> {
    match clip_grad_norm {
        Some(max_norm) if max_norm.is_nan() || max_norm <= 0.0 => {
            Err(TrainError::invalid(op, format!("clip_grad_norm is {max_norm}; it must be a positive number")))
        }
        _ => Ok(()),
    }
}
