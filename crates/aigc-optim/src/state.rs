//! [`OptimizerState`]: what an optimizer saves in a checkpoint.

use std::collections::BTreeMap;

use aigc_autograd::{Error, Result};
use serde::{Deserialize, Serialize};

/// A tensor copied out for serialization: its shape and its row-major values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedTensor {
    /// The shape, for example `[768, 3072]`.
    pub shape: Vec<usize>,
    /// The values in row-major order; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

impl SavedTensor {
    /// Creates a tensor of zeros with `shape`.
    pub fn zeros(shape: &[usize]) -> Self {
        SavedTensor { shape: shape.to_vec(), data: vec![0.0; shape.iter().product()] }
    }

    /// Checks that `data` fills `shape` exactly. `label` names the tensor in the error.
    pub fn check(&self, op: &'static str, label: &str) -> Result<()> {
        let expected: usize = self.shape.iter().product();
        if self.data.len() != expected {
            return Err(Error::invalid(
                op,
                format!(
                    "{label} has shape {:?} ({expected} values) but its data has length {}",
                    self.shape,
                    self.data.len()
                ),
            ));
        }
        Ok(())
    }
}

/// Everything an optimizer needs to continue exactly where it stopped.
///
/// Buffers are keyed first by buffer name (`"exp_avg"`, `"momentum_buffer"`),
/// then by parameter name, so the state survives re-creating the model as long
/// as the parameter names stay the same. Boolean hyperparameters are stored as
/// `0.0` or `1.0`, so the state is made of plain maps, numbers and strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The optimizer's [`crate::Optimizer::name`], for example `"adamw"`.
    pub optimizer: String,
    /// The number of successful calls to [`crate::Optimizer::step`].
    pub step: u64,
    /// Hyperparameters by name, for example `"lr"` and `"beta1"`.
    pub hyperparameters: BTreeMap<String, f32>,
    /// Buffer name → parameter name → buffer.
    pub buffers: BTreeMap<String, BTreeMap<String, SavedTensor>>,
    /// Per-parameter update counts, for optimizers whose update depends on
    /// them (Adam's bias correction); empty for SGD.
    pub param_steps: BTreeMap<String, u64>,
}

impl OptimizerState {
    /// Creates an empty state for the optimizer `name`.
    pub fn new(name: &str, step: u64) -> Self {
        OptimizerState {
            optimizer: name.to_string(),
            step,
            hyperparameters: BTreeMap::new(),
            buffers: BTreeMap::new(),
            param_steps: BTreeMap::new(),
        }
    }

    /// Fails unless this state was saved by the optimizer `expected`.
    pub(crate) fn check_optimizer(&self, op: &'static str, expected: &str) -> Result<()> {
        if self.optimizer != expected {
            return Err(Error::invalid(
                op,
                format!(
                    "the state was saved by optimizer `{}` and cannot be loaded into `{expected}`",
                    self.optimizer
                ),
            ));
        }
        Ok(())
    }

    /// Fails when a hyperparameter or buffer name is not in the expected lists,
    /// which usually means the state comes from another optimizer version.
    pub(crate) fn check_names(&self, op: &'static str, hyperparameters: &[&str], buffers: &[&str]) -> Result<()> {
        for key in self.hyperparameters.keys() {
            if !hyperparameters.contains(&key.as_str()) {
                return Err(Error::invalid(
                    op,
                    format!(
                        "unknown hyperparameter `{key}` in the `{}` state; expected: {}",
                        self.optimizer,
                        hyperparameters.join(", ")
                    ),
                ));
            }
        }
        for key in self.buffers.keys() {
            if !buffers.contains(&key.as_str()) {
                return Err(Error::invalid(
                    op,
                    format!(
                        "unknown buffer `{key}` in the `{}` state; expected: {}",
                        self.optimizer,
                        if buffers.is_empty() { "none".to_string() } else { buffers.join(", ") }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads a required hyperparameter.
    pub(crate) fn hyperparameter(&self, op: &'static str, key: &str) -> Result<f32> {
        self.hyperparameters.get(key).copied().ok_or_else(|| {
            Error::invalid(op, format!("the `{}` state is missing hyperparameter `{key}`", self.optimizer))
        })
    }

    /// Reads a required boolean hyperparameter stored as `0.0` or `1.0`.
    pub(crate) fn flag(&self, op: &'static str, key: &str) -> Result<bool> {
        match self.hyperparameter(op, key)? {
            0.0 => Ok(false),
            1.0 => Ok(true),
            value => Err(Error::invalid(
                op,
                format!("hyperparameter `{key}` is {value} in the `{}` state; expected 0 or 1", self.optimizer),
            )),
        }
    }

    /// Takes the buffers named `buffer` (empty when absent) after checking
    /// that each one's data fills its shape.
    pub(crate) fn take_buffers(&mut self, op: &'static str, buffer: &str) -> Result<BTreeMap<String, SavedTensor>> {
        let buffers = self.buffers.remove(buffer).unwrap_or_default();
        for (param, saved) in &buffers {
            saved.check(op, &format!("buffer `{buffer}` of parameter `{param}`"))?;
        }
        Ok(buffers)
    }
}

/// Converts a flag to the `0.0`/`1.0` form stored in [`OptimizerState::hyperparameters`].
pub(crate) fn flag_value(flag: bool) -> f32 {
    if flag {
        1.0
    } else {
        0.0
    }
}
