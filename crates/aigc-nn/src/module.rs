//! The [`Module`] trait and named parameters.

use aigc_autograd::{Result, Var};

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
