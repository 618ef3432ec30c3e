//! The [`Optimizer`] trait, lookup by name, and the gradient checks every
//! optimizer runs before it updates anything.

use std::collections::{BTreeMap, HashMap, HashSet};

use aigc_autograd::{Error, Result, Tensor};
use aigc_nn::Parameter;

use crate::adam::{Adam, AdamW};
use crate::sgd::Sgd;
use crate::state::{OptimizerState, SavedTensor};

/// Updates parameters from their gradients.
///
/// An optimizer keeps its per-parameter buffers keyed by [`Parameter::name`],
/// so the same optimizer (or one restored with [`Optimizer::load_state`])
/// keeps working after the model is re-created with the same names.
pub trait Optimizer: Send {
    /// The optimizer's name as [`optimizer_by_name`] accepts it, for example `"adamw"`.
    fn name(&self) -> &'static str;

    /// Applies one update to every parameter that has a gradient.
    ///
    /// Parameters whose gradient is `None` are skipped and keep their
    /// buffers. A `Var` listed twice (tied weights) is updated once, under
    /// its first name. Nothing is updated when a check fails.
    ///
    /// Fails when a gradient's shape differs from its parameter's, when two
    /// different variables share a name, when a buffer (for example one
    /// loaded from another model) has the wrong shape, or when a
    /// hyperparameter is invalid.
    fn step(&mut self, params: &[Parameter]) -> Result<()>;

    /// The current learning rate.
    fn learning_rate(&self) -> f32;

    /// Sets the learning rate, for example from an [`crate::LrSchedule`].
    /// An invalid value (negative, NaN) makes the next [`Optimizer::step`] fail.
    fn set_learning_rate(&mut self, lr: f32);

    /// Copies out the step count, hyperparameters and buffers.
    fn state(&self) -> OptimizerState;

    /// Restores a state saved by [`Optimizer::state`], hyperparameters
    /// included (as PyTorch's `load_state_dict` does).
    ///
    /// Fails, leaving `self` unchanged, when the state comes from another
    /// optimizer, lacks a hyperparameter, or contains a buffer whose data
    /// does not fill its shape. Whether buffer shapes match the model is checked
    /// by the next [`Optimizer::step`], which knows the parameters.
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;
}

/// The names [`optimizer_by_name`] accepts.
pub const OPTIMIZER_NAMES: &[&str] = &["sgd", "adam", "adamw"];

/// Weight decay of [`optimizer_by_name`]`("adamw", lr)`: PyTorch's default for `AdamW`.
pub const DEFAULT_ADAMW_WEIGHT_DECAY: f32 = 0.01;

/// Creates an optimizer with default settings from its name (case-insensitive).
///
/// `"sgd"` is plain SGD, `"adam"` is [`Adam`] with betas (0.9, 0.999) and
/// eps 1e-8, and `"adamw"` is [`AdamW`] with the same betas and eps and
/// weight decay [`DEFAULT_ADAMW_WEIGHT_DECAY`] on [`aigc_nn::ParamKind::Weight`]
/// parameters. Fails for any other name, listing the valid ones, or for a
/// learning rate that is negative or not finite.
pub fn optimizer_by_name(name: &str, lr: f32) -> Result<Box<dyn Optimizer>> {
    if !(lr.is_finite() && lr >= 0.0) {
        return Err(Error::invalid(
            "optimizer_by_name",
            format!("invalid learning rate {lr}; expected a finite value >= 0"),
        ));
    }
    match name.to_ascii_lowercase().as_str() {
        "sgd" => Ok(Box::new(Sgd::new(lr))),
        "adam" => Ok(Box::new(Adam::new(lr))),
        "adamw" => Ok(Box::new(AdamW::new(lr, DEFAULT_ADAMW_WEIGHT_DECAY))),
        _ => Err(Error::invalid(
            "optimizer_by_name",
            format!("unknown optimizer `{name}`; expected one of: {}", OPTIMIZER_NAMES.join(", ")),
        )),
    }
}

/// A parameter that takes part in a step, with its gradient made contiguous.
pub(crate) struct GradEntry<'a> {
    pub(crate) param: &'a Parameter,
    pub(crate) grad: Tensor,
}

impl GradEntry<'_> {
    /// The gradient's values in row-major order.
    pub(crate) fn grad_slice(&self) -> &[f32] {
        self.grad.as_slice().expect("gradients are made contiguous in collect_gradients")
    }
}

/// Collects the parameters that have a gradient, checking that every
/// gradient has its parameter's shape and that names are unique.
pub(crate) fn collect_gradients<'a>(op: &'static str, params: &'a [Parameter]) -> Result<Vec<GradEntry<'a>>> {
    let mut var_by_name: HashMap<&str, usize> = HashMap::new();
    let mut seen_vars: HashSet<usize> = HashSet::new();
    let mut entries = Vec::new();
    for param in params {
        let id = param.var.id();
        if let Some(&other) = var_by_name.get(param.name.as_str()) {
            if other != id {
                return Err(Error::invalid(
                    op,
                    format!(
                        "two different parameters are named `{}`; optimizer buffers are keyed by name, so names must be unique",
                        param.name
                    ),
                ));
            }
        }
        var_by_name.insert(&param.name, id);
        if !seen_vars.insert(id) {
            continue;
        }

        let Some(grad) = param.var.grad() else { continue };
        let shape = param.var.shape();
        if grad.shape() != shape.as_slice() {
            return Err(Error::shape(
                op,
                &shape,
                grad.shape(),
                format!(
                    "the gradient of parameter `{}` has shape {:?} but the parameter has shape {:?}",
                    param.name,
                    grad.shape(),
                    shape
                ),
            ));
        }
        entries.push(GradEntry { param, grad: grad.contiguous() });
    }
    Ok(entries)
}

/// Checks that every existing buffer in `buffers` matches its parameter's shape.
pub(crate) fn check_buffer_shapes(
    op: &'static str,
    entries: &[GradEntry<'_>],
    buffer_name: &str,
    buffers: &BTreeMap<String, SavedTensor>,
) -> Result<()> {
    for entry in entries {
        if let Some(saved) = buffers.get(&entry.param.name) {
            let shape = entry.grad.shape();
            if saved.shape != shape {
                return Err(Error::shape(
                    op,
                    shape,
                    &saved.shape,
                    format!(
                        "buffer `{buffer_name}` of parameter `{}` has shape {:?} but the parameter has shape {:?}. \
                         The optimizer state may come from another model",
                        entry.param.name, saved.shape, shape
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Fails unless `value` is finite and at least `min`.
pub(crate) fn check_at_least(op: &'static str, name: &str, value: f32, min: f32) -> Result<()> {
    if !(value.is_finite() && value >= min) {
        return Err(Error::invalid(op, format!("invalid {name} {value}; expected a finite value >= {min}")));
    }
    Ok(())
}
