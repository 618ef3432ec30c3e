//! The [`Module`] trait and named parameters.

use std::sync::{Arc, Mutex};

use aigc_autograd::{Result, Var};
use aigc_tensor::Rng;

/// What role a parameter plays; optimizers use it to decide on weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A weight matrix of a linear map (decayed by AdamW by default).
    Weight,
    /// A bias vector.
    Bias,
    /// A normalisation scale or shift (LayerNorm).
    Norm,
    /// An embedding table.
    Embedding,
}

/// A trainable tensor with its stable dotted name, such as `h.0.attn.c_attn.weight`.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// Dotted path from the root module; stable across runs, used in checkpoints.
    pub name: String,
    /// The variable; its gradient fills in on backward.
    pub var: Var,
    /// The parameter's role.
    pub kind: ParamKind,
}

impl Parameter {
    /// Creates a parameter.
    pub fn new(name: impl Into<String>, var: Var, kind: ParamKind) -> Self {
        Parameter { name: name.into(), var, kind }
    }

    /// The same parameter with `prefix.` in front of its name.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.name = format!("{prefix}.{}", self.name);
        self
    }
}

/// Prefixes every parameter name with `prefix.`: how containers name their children.
pub fn prefix_parameters(prefix: &str, parameters: Vec<Parameter>) -> Vec<Parameter> {
    parameters.into_iter().map(|p| p.prefixed(prefix)).collect()
}

/// A random generator that a layer draws from in training mode (the masks
/// of [`crate::Dropout`]), with its stable dotted name, such as
/// `h.0.attn.resid_dropout.rng`.
///
/// The handle shares the layer's generator, so a checkpoint can read its
/// state with [`Generator::state`] and a resumed run can put it back with
/// [`Generator::set_state`], and the resumed run then draws the same masks
/// as one that never stopped.
#[derive(Debug, Clone)]
pub struct Generator {
    /// Dotted path from the root module, like a [`Parameter`]'s name.
    pub name: String,
    rng: Arc<Mutex<Rng>>,
}

impl Generator {
    /// Creates a handle named `name` on the shared generator `rng`.
    pub fn new(name: impl Into<String>, rng: Arc<Mutex<Rng>>) -> Self {
        Generator { name: name.into(), rng }
    }

    /// Returns a copy of the generator's current state.
    pub fn state(&self) -> Rng {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the generator's state, so the layer's next draws continue from `state`.
    pub fn set_state(&self, state: Rng) {
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// The same generator with `prefix.` in front of its name.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.name = format!("{prefix}.{}", self.name);
        self
    }
}

/// Prefixes every generator name with `prefix.`: how containers name their children's generators.
pub fn prefix_generators(prefix: &str, generators: Vec<Generator>) -> Vec<Generator> {
    generators.into_iter().map(|g| g.prefixed(prefix)).collect()
}

/// A layer or model: a differentiable function with named parameters.
pub trait Module: Send + Sync {
    /// Runs the layer on `input`.
    fn forward(&self, input: &Var) -> Result<Var>;

    /// The parameters, in a fixed order, with names relative to this module.
    fn parameters(&self) -> Vec<Parameter>;

    /// Switches between training (`true`) and evaluation mode, recursively.
    /// Only layers that behave differently (Dropout) need to override it.
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// The random generators the module draws from in training mode, in a
    /// fixed order, with names relative to this module. Layers that draw
    /// (Dropout) and the containers that hold them override it. The default
    /// returns an empty list.
    fn generators(&self) -> Vec<Generator> {
        Vec::new()
    }

    /// The total number of scalar parameters.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.var.shape().iter().product::<usize>()).sum()
    }

    /// Clears the gradient of every parameter.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.var.zero_grad();
        }
    }
}
