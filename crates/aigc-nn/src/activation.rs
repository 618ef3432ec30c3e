//! Activation functions as layers, for use in [`crate::Sequential`].
//!
//! Each is a unit struct with no parameters that applies the [`Var`]
//! method of the same name element-wise (softmax along the last axis).

use aigc_autograd::{Result, Var};

use crate::module::{Module, Parameter};

/// `max(x, 0)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReLU;

/// GELU with the tanh approximation that GPT-2 uses:
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GELU;

/// The hyperbolic tangent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh;

/// The logistic sigmoid `1 / (1 + e⁻ˣ)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sigmoid;

/// Softmax along the last axis: `exp(xᵢ) / Σⱼ exp(xⱼ)`.
///
/// The losses in [`crate::loss`] take logits, so a model trained with them
/// needs no softmax layer; use this one for probabilities at inference.
#[derive(Debug, Clone, Copy, Default)]
pub struct Softmax;

impl Module for ReLU {
    fn forward(&self, input: &Var) -> Result<Var> {
        Ok(input.relu())
    }

    fn parameters(&self) -> Vec<Parameter> {
        Vec::new()
    }
}

impl Module for GELU {
    fn forward(&self, input: &Var) -> Result<Var> {
        Ok(input.gelu())
    }

    fn parameters(&self) -> Vec<Parameter> {
        Vec::new()
    }
}

impl Module for Tanh {
    fn forward(&self, input: &Var) -> Result<Var> {
        Ok(input.tanh())
    }

    fn parameters(&self) -> Vec<Parameter> {
        Vec::new()
    }
}

impl Module for Sigmoid {
    fn forward(&self, input: &Var) -> Result<Var> {
        Ok(input.sigmoid())
    }

    fn parameters(&self) -> Vec<Parameter> {
        Vec::new()
    }
}

impl Module for Softmax {
    fn forward(&self, input: &Var) -> Result<Var> {
        input.softmax(-1)
    }

    fn parameters(&self) -> Vec<Parameter> {
        Vec::new()
    }
}
