//! Stochastic gradient descent with optional momentum, Nesterov momentum and
//! L2 weight decay, following `torch.optim.SGD`.

use std::collections::BTreeMap;

use aigc_autograd::{Error, Result};
use aigc_nn::Parameter;

use crate::optimizer::{check_at_least, check_buffer_shapes, collect_gradients, Optimizer};
use crate::state::{flag_value, OptimizerState, SavedTensor};
use crate::update::{update_with_buffer, update_with_grad};

const STEP_OP: &str = "Sgd::step";
const LOAD_OP: &str = "Sgd::load_state";
const MOMENTUM_BUFFER: &str = "momentum_buffer";
const HYPERPARAMETERS: &[&str] = &["lr", "momentum", "dampening", "weight_decay", "nesterov"];

/// SGD, with PyTorch's update for each parameter `p` with gradient `g`
/// (μ momentum, τ dampening, λ weight decay, γ learning rate):
///
/// ```text
/// g ← g + λ·p                                   (when λ ≠ 0)
/// b ← g on the first step, else μ·b + (1 − τ)·g  (when μ ≠ 0)
/// g ← g + μ·b with Nesterov, else g ← b          (when μ ≠ 0)
/// p ← p − γ·g
/// ```
///
/// Weight decay applies to every parameter, whatever its kind.
///
/// ```
/// use aigc_optim::Sgd;
/// let optimizer = Sgd::new(0.1).momentum(0.9).nesterov(true).weight_decay(1e-4);
/// ```
#[derive(Debug, Clone)]
pub struct Sgd {
    lr: f32,
    momentum: f32,
    dampening: f32,
    weight_decay: f32,
    nesterov: bool,
    step: u64,
    momentum_buffers: BTreeMap<String, SavedTensor>,
}

impl Sgd {
    /// Creates plain SGD (no momentum, no weight decay) with learning rate `lr`.
    pub fn new(lr: f32) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            step: 0,
            momentum_buffers: BTreeMap::new(),
        }
    }

    /// Sets the momentum factor μ (default 0: no momentum buffer).
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening τ of the momentum buffer (default 0).
    pub fn dampening(mut self, dampening: f32) -> Self {
        self.dampening = dampening;
        self
    }

    /// Switches Nesterov momentum on; it needs μ > 0 and τ = 0.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Sets the L2 weight decay λ added to the gradient (default 0).
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The number of successful steps so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Checks the hyperparameters against PyTorch's rules.
    fn validate(&self, op: &'static str) -> Result<()> {
        check_at_least(op, "learning rate", self.lr, 0.0)?;
        check_at_least(op, "momentum", self.momentum, 0.0)?;
        check_at_least(op, "weight decay", self.weight_decay, 0.0)?;
        if !self.dampening.is_finite() {
            return Err(Error::invalid(op, format!("invalid dampening {}; expected a finite value", self.dampening)));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::invalid(
                op,
                format!(
                    "Nesterov momentum needs momentum > 0 and dampening 0, got momentum {} and dampening {}",
                    self.momentum, self.dampening
                ),
            ));
        }
        Ok(())
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn step(&mut self, params: &[Parameter]) -> Result<()> {
        self.validate(STEP_OP)?;
        let entries = collect_gradients(STEP_OP, params)?;
        check_buffer_shapes(STEP_OP, &entries, MOMENTUM_BUFFER, &self.momentum_buffers)?;

        let (lr, momentum, weight_decay, nesterov) = (self.lr, self.momentum, self.weight_decay, self.nesterov);
        let damped = 1.0 - self.dampening;
        for entry in &entries {
            let grad = entry.grad_slice();
            // The gradient with L2 decay folded in: g + λ·p.
            let decayed = move |p: f32, g: f32| if weight_decay != 0.0 { g + weight_decay * p } else { g };

            if momentum == 0.0 {
                entry.param.var.update_value(|value| {
                    update_with_grad(value.as_slice_mut(), grad, |p, g| *p -= lr * decayed(*p, g));
                });
                continue;
            }

            let first = !self.momentum_buffers.contains_key(&entry.param.name);
            let buffer = self
                .momentum_buffers
                .entry(entry.param.name.clone())
                .or_insert_with(|| SavedTensor::zeros(entry.grad.shape()));
            entry.param.var.update_value(|value| {
                update_with_buffer(value.as_slice_mut(), grad, &mut buffer.data, |p, g, b| {
                    let g = decayed(*p, g);
                    *b = if first { g } else { momentum * *b + damped * g };
                    let direction = if nesterov { g + momentum * *b } else { *b };
                    *p -= lr * direction;
                });
            });
        }
        self.step += 1;
        Ok(())
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }

    fn state(&self) -> OptimizerState {
        let mut state = OptimizerState::new(self.name(), self.step);
        let hyperparameters = [
            ("lr", self.lr),
            ("momentum", self.momentum),
            ("dampening", self.dampening),
            ("weight_decay", self.weight_decay),
            ("nesterov", flag_value(self.nesterov)),
        ];
        for (key, value) in hyperparameters {
            state.hyperparameters.insert(key.to_string(), value);
        }
        if !self.momentum_buffers.is_empty() {
            state.buffers.insert(MOMENTUM_BUFFER.to_string(), self.momentum_buffers.clone());
        }
        state
    }

    fn load_state(&mut self, mut state: OptimizerState) -> Result<()> {
        state.check_optimizer(LOAD_OP, self.name())?;
        state.check_names(LOAD_OP, HYPERPARAMETERS, &[MOMENTUM_BUFFER])?;
        if !state.param_steps.is_empty() {
            return Err(Error::invalid(LOAD_OP, "SGD keeps no per-parameter step counts, but the state has some"));
        }
        let loaded = Sgd {
            lr: state.hyperparameter(LOAD_OP, "lr")?,
            momentum: state.hyperparameter(LOAD_OP, "momentum")?,
            dampening: state.hyperparameter(LOAD_OP, "dampening")?,
            weight_decay: state.hyperparameter(LOAD_OP, "weight_decay")?,
            nesterov: state.flag(LOAD_OP, "nesterov")?,
            step: state.step,
            momentum_buffers: state.take_buffers(LOAD_OP, MOMENTUM_BUFFER)?,
        };
        loaded.validate(LOAD_OP)?;
        *self = loaded;
        Ok(())
    }
}
