//! Adam and AdamW, following `torch.optim.Adam` and `torch.optim.AdamW`.
//!
//! Both share [`AdamCore`]; they differ only in how weight decay enters.
//! Adam adds `λ·p` to the gradient (L2 regularisation, which the moment
//! estimates then rescale), while AdamW shrinks the parameter directly
//! (decoupled weight decay, Loshchilov and Hutter, "Decoupled Weight Decay
//! Regularization", ICLR 2019).

use std::collections::BTreeMap;

use aigc_autograd::{Error, Result};
use aigc_nn::{ParamKind, Parameter};

use crate::optimizer::{check_at_least, check_buffer_shapes, collect_gradients, Optimizer};
use crate::state::{flag_value, OptimizerState, SavedTensor};
use crate::update::update_with_two_buffers;

const EXP_AVG: &str = "exp_avg";
const EXP_AVG_SQ: &str = "exp_avg_sq";

/// Every parameter kind, with the name used for its AdamW decay flag in
/// [`OptimizerState::hyperparameters`].
const KIND_FLAGS: [(ParamKind, &str); 4] = [
    (ParamKind::Weight, "decay_weight"),
    (ParamKind::Bias, "decay_bias"),
    (ParamKind::Norm, "decay_norm"),
    (ParamKind::Embedding, "decay_embedding"),
];

/// Whether weight decay is added to the gradient (Adam) or applied to the
/// parameter directly (AdamW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decay {
    Coupled,
    Decoupled,
}

/// The state and update shared by [`Adam`] and [`AdamW`].
#[derive(Debug, Clone)]
struct AdamCore {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decay: Decay,
    /// The kinds that weight decay applies to.
    decay_kinds: Vec<ParamKind>,
    step: u64,
    /// Updates per parameter, the `t` of the bias correction.
    param_steps: BTreeMap<String, u64>,
    exp_avg: BTreeMap<String, SavedTensor>,
    exp_avg_sq: BTreeMap<String, SavedTensor>,
}

impl AdamCore {
    fn new(lr: f32, weight_decay: f32, decay: Decay, decay_kinds: Vec<ParamKind>) -> Self {
        AdamCore {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            decay,
            decay_kinds,
            step: 0,
            param_steps: BTreeMap::new(),
            exp_avg: BTreeMap::new(),
            exp_avg_sq: BTreeMap::new(),
        }
    }

    fn name(&self) -> &'static str {
        match self.decay {
            Decay::Coupled => "adam",
            Decay::Decoupled => "adamw",
        }
    }

    fn step_op(&self) -> &'static str {
        match self.decay {
            Decay::Coupled => "Adam::step",
            Decay::Decoupled => "AdamW::step",
        }
    }

    fn load_op(&self) -> &'static str {
        match self.decay {
            Decay::Coupled => "Adam::load_state",
            Decay::Decoupled => "AdamW::load_state",
        }
    }

    /// Checks the hyperparameters against PyTorch's rules.
    fn validate(&self, op: &'static str) -> Result<()> {
        check_at_least(op, "learning rate", self.lr, 0.0)?;
        check_at_least(op, "eps", self.eps, 0.0)?;
        check_at_least(op, "weight decay", self.weight_decay, 0.0)?;
        for (which, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(Error::invalid(op, format!("invalid {which} {beta}; expected a value in [0, 1)")));
            }
        }
        Ok(())
    }

    fn step(&mut self, params: &[Parameter]) -> Result<()> {
        let op = self.step_op();
        self.validate(op)?;
        let entries = collect_gradients(op, params)?;
        check_buffer_shapes(op, &entries, EXP_AVG, &self.exp_avg)?;
        check_buffer_shapes(op, &entries, EXP_AVG_SQ, &self.exp_avg_sq)?;

        let (lr, beta1, beta2, eps) = (self.lr, self.beta1, self.beta2, self.eps);
        for entry in &entries {
            let name = &entry.param.name;
            let shape = entry.grad.shape();
            let t = self.param_steps.get(name).copied().unwrap_or(0) + 1;
            let exp_avg = self.exp_avg.entry(name.clone()).or_insert_with(|| SavedTensor::zeros(shape));
            let exp_avg_sq = self.exp_avg_sq.entry(name.clone()).or_insert_with(|| SavedTensor::zeros(shape));

            // Bias corrections in f64, as PyTorch computes them from Python floats.
            let bias_correction1 = 1.0 - f64::from(beta1).powf(t as f64);
            let bias_correction2 = 1.0 - f64::from(beta2).powf(t as f64);
            let step_size = (f64::from(lr) / bias_correction1) as f32;
            let bias_correction2_sqrt = bias_correction2.sqrt() as f32;

            let decays = self.weight_decay != 0.0 && self.decay_kinds.contains(&entry.param.kind);
            let coupled_decay = if decays && self.decay == Decay::Coupled { self.weight_decay } else { 0.0 };
            let shrink = if decays && self.decay == Decay::Decoupled { 1.0 - lr * self.weight_decay } else { 1.0 };

            let grad = entry.grad_slice();
            entry.param.var.update_value(|value| {
                update_with_two_buffers(value.as_slice_mut(), grad, &mut exp_avg.data, &mut exp_avg_sq.data, |p, g, m, v| {
                    *p *= shrink;
                    let g = g + coupled_decay * *p;
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    // lr·m̂/(√v̂ + eps), written as PyTorch evaluates it.
                    let denom = v.sqrt() / bias_correction2_sqrt + eps;
                    *p -= step_size * *m / denom;
                });
            });
            self.param_steps.insert(name.clone(), t);
        }
        self.step += 1;
        Ok(())
    }

    fn state(&self) -> OptimizerState {
        let mut state = OptimizerState::new(self.name(), self.step);
        let hyperparameters = [
            ("lr", self.lr),
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("eps", self.eps),
            ("weight_decay", self.weight_decay),
        ];
        for (key, value) in hyperparameters {
            state.hyperparameters.insert(key.to_string(), value);
        }
        if self.decay == Decay::Decoupled {
            for (kind, key) in KIND_FLAGS {
                state.hyperparameters.insert(key.to_string(), flag_value(self.decay_kinds.contains(&kind)));
            }
        }
        state.param_steps = self.param_steps.clone();
        if !self.param_steps.is_empty() {
            state.buffers.insert(EXP_AVG.to_string(), self.exp_avg.clone());
            state.buffers.insert(EXP_AVG_SQ.to_string(), self.exp_avg_sq.clone());
        }
        state
    }

    fn load_state(&mut self, mut state: OptimizerState) -> Result<()> {
        let op = self.load_op();
        state.check_optimizer(op, self.name())?;
        let mut hyperparameters = vec!["lr", "beta1", "beta2", "eps", "weight_decay"];
        if self.decay == Decay::Decoupled {
            hyperparameters.extend(KIND_FLAGS.iter().map(|(_, key)| *key));
        }
        state.check_names(op, &hyperparameters, &[EXP_AVG, EXP_AVG_SQ])?;

        let decay_kinds = match self.decay {
            Decay::Coupled => self.decay_kinds.clone(),
            Decay::Decoupled => {
                let mut kinds = Vec::new();
                for (kind, key) in KIND_FLAGS {
                    if state.flag(op, key)? {
                        kinds.push(kind);
                    }
                }
                kinds
            }
        };
        let exp_avg = state.take_buffers(op, EXP_AVG)?;
        let exp_avg_sq = state.take_buffers(op, EXP_AVG_SQ)?;
        check_moments_match(op, &state.param_steps, &exp_avg, &exp_avg_sq)?;

        let loaded = AdamCore {
            lr: state.hyperparameter(op, "lr")?,
            beta1: state.hyperparameter(op, "beta1")?,
            beta2: state.hyperparameter(op, "beta2")?,
            eps: state.hyperparameter(op, "eps")?,
            weight_decay: state.hyperparameter(op, "weight_decay")?,
            decay: self.decay,
            decay_kinds,
            step: state.step,
            param_steps: state.param_steps,
            exp_avg,
            exp_avg_sq,
        };
        loaded.validate(op)?;
        *self = loaded;
        Ok(())
    }
}

/// Checks that every parameter with a step count has both moments, of the
/// same shape, and that no moment lacks a step count.
fn check_moments_match(
    op: &'static str,
    param_steps: &BTreeMap<String, u64>,
    exp_avg: &BTreeMap<String, SavedTensor>,
    exp_avg_sq: &BTreeMap<String, SavedTensor>,
) -> Result<()> {
    for (name, &steps) in param_steps {
        if steps == 0 {
            return Err(Error::invalid(op, format!("parameter `{name}` has a step count of 0; expected at least 1")));
        }
        let (Some(first), Some(second)) = (exp_avg.get(name), exp_avg_sq.get(name)) else {
            return Err(Error::invalid(
                op,
                format!("parameter `{name}` has a step count but lacks `{EXP_AVG}` or `{EXP_AVG_SQ}`"),
            ));
        };
        if first.shape != second.shape {
            return Err(Error::shape(
                op,
                &first.shape,
                &second.shape,
                format!("`{EXP_AVG}` and `{EXP_AVG_SQ}` of parameter `{name}` must have the same shape"),
            ));
        }
    }
    for name in exp_avg.keys().chain(exp_avg_sq.keys()) {
        if !param_steps.contains_key(name) {
            return Err(Error::invalid(op, format!("parameter `{name}` has moment buffers but no step count")));
        }
    }
    Ok(())
}

/// Adam (Kingma and Ba, 2015) with PyTorch's update for each parameter `p`
/// with gradient `g` at its `t`-th step (γ learning rate, λ weight decay):
///
/// ```text
/// g ← g + λ·p                     (L2 decay, on every parameter, when λ ≠ 0)
/// m ← β1·m + (1 − β1)·g
/// v ← β2·v + (1 − β2)·g²
/// p ← p − γ·(m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + eps)
/// ```
///
/// `t` counts the steps in which this parameter had a gradient.
///
/// ```
/// use aigc_optim::Adam;
/// let optimizer = Adam::new(3e-4).betas(0.9, 0.95).eps(1e-8);
/// ```
#[derive(Debug, Clone)]
pub struct Adam {
    core: AdamCore,
}

impl Adam {
    /// Creates Adam with learning rate `lr`, betas (0.9, 0.999), eps 1e-8 and no weight decay.
    pub fn new(lr: f32) -> Self {
        let all_kinds = KIND_FLAGS.iter().map(|(kind, _)| *kind).collect();
        Adam { core: AdamCore::new(lr, 0.0, Decay::Coupled, all_kinds) }
    }

    /// Sets the moment decay rates β1 and β2, each in [0, 1).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.core.beta1 = beta1;
        self.core.beta2 = beta2;
        self
    }

    /// Sets eps, added to the denominator for numerical stability.
    pub fn eps(mut self, eps: f32) -> Self {
        self.core.eps = eps;
        self
    }

    /// Sets the L2 weight decay λ that is added to every parameter's gradient.
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.core.weight_decay = weight_decay;
        self
    }

    /// The number of successful steps so far.
    pub fn steps(&self) -> u64 {
        self.core.step
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        self.core.name()
    }

    fn step(&mut self, params: &[Parameter]) -> Result<()> {
        self.core.step(params)
    }

    fn learning_rate(&self) -> f32 {
        self.core.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.core.lr = lr;
    }

    fn state(&self) -> OptimizerState {
        self.core.state()
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        self.core.load_state(state)
    }
}

/// AdamW with PyTorch's update for each parameter `p` with gradient `g` at
/// its `t`-th step (γ learning rate, λ weight decay):
///
/// ```text
/// p ← p − γ·λ·p                   (only for the decayed kinds)
/// m ← β1·m + (1 − β1)·g
/// v ← β2·v + (1 − β2)·g²
/// m̂ = m / (1 − β1ᵗ),  v̂ = v / (1 − β2ᵗ)
/// p ← p − γ·m̂ / (√v̂ + eps)
/// ```
///
/// By default only [`ParamKind::Weight`] parameters are decayed, as in
/// nanoGPT and most GPT recipes; biases, norms and embeddings are not,
/// unless [`AdamW::decay_kinds`] lists them.
///
/// ```
/// use aigc_nn::ParamKind;
/// use aigc_optim::AdamW;
/// let optimizer = AdamW::new(6e-4, 0.1)
///     .betas(0.9, 0.95)
///     .decay_kinds(&[ParamKind::Weight, ParamKind::Embedding]);
/// ```
#[derive(Debug, Clone)]
pub struct AdamW {
    core: AdamCore,
}

impl AdamW {
    /// Creates AdamW with learning rate `lr` and decoupled weight decay
    /// `weight_decay` on weights, betas (0.9, 0.999) and eps 1e-8.
    pub fn new(lr: f32, weight_decay: f32) -> Self {
        AdamW { core: AdamCore::new(lr, weight_decay, Decay::Decoupled, vec![ParamKind::Weight]) }
    }

    /// Sets the moment decay rates β1 and β2, each in [0, 1).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.core.beta1 = beta1;
        self.core.beta2 = beta2;
        self
    }

    /// Sets eps, added to the denominator for numerical stability.
    pub fn eps(mut self, eps: f32) -> Self {
        self.core.eps = eps;
        self
    }

    /// Sets the parameter kinds that weight decay applies to, replacing the
    /// default `[ParamKind::Weight]`. An empty list turns decay off.
    pub fn decay_kinds(mut self, kinds: &[ParamKind]) -> Self {
        self.core.decay_kinds = kinds.to_vec();
        self
    }

    /// The number of successful steps so far.
    pub fn steps(&self) -> u64 {
        self.core.step
    }
}

impl Optimizer for AdamW {
    fn name(&self) -> &'static str {
        self.core.name()
    }

    fn step(&mut self, params: &[Parameter]) -> Result<()> {
        self.core.step(params)
    }

    fn learning_rate(&self) -> f32 {
        self.core.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.core.lr = lr;
    }

    fn state(&self) -> OptimizerState {
        self.core.state()
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        self.core.load_state(state)
    }
}
