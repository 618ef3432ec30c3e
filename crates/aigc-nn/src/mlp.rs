//! The feed-forward block of a transformer.

use aigc_autograd::{Result, Var};
use aigc_tensor::Rng;

use crate::dropout::Dropout;
use crate::init::Init;
use crate::linear::Linear;
use crate::module::{prefix_generators, prefix_parameters, Generator, Module, Parameter};

/// The transformer feed-forward block, as in GPT-2:
///
/// ```text
/// y = dropout(c_proj(gelu(c_fc(x))))
/// ```
///
/// with the tanh approximation of GELU. Shapes: x `(..., C)` → hidden
/// `(..., hidden)` → y `(..., C)`; GPT-2 uses hidden = 4C.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{Init, Mlp, Module};
/// use aigc_tensor::{Rng, Tensor};
/// let mlp = Mlp::new(8, 32, true, 0.0, Init::Normal { std: 0.02 }, &mut Rng::seed(0))?;
/// assert_eq!(mlp.forward(&Var::new(Tensor::ones(&[2, 5, 8])))?.shape(), vec![2, 5, 8]);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mlp {
    /// The expansion, `(hidden, C)`.
    pub c_fc: Linear,
    /// The projection back, `(C, hidden)`.
    pub c_proj: Linear,
    /// Dropout on the output.
    pub dropout: Dropout,
}

impl Mlp {
    /// Creates the block: `c_fc` drawn from N(0, 0.02²) as in GPT-2, `c_proj`
    /// drawn by `proj_init`, zero biases (if `bias`), and a dropout with
    /// probability `dropout` seeded from `rng`.
    ///
    /// Fails when `dropout` is not in [0, 1).
    pub fn new(n_embd: usize, hidden: usize, bias: bool, dropout: f32, proj_init: Init, rng: &mut Rng) -> Result<Mlp> {
        let c_fc = Linear::with_init(n_embd, hidden, bias, Init::Normal { std: 0.02 }, rng);
        let c_proj = Linear::with_init(hidden, n_embd, bias, proj_init, rng);
        let dropout = Dropout::new(dropout, rng.next_u64())?;
        Ok(Mlp { c_fc, c_proj, dropout })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Var) -> Result<Var> {
        let hidden = self.c_fc.forward(x)?.gelu(); // (..., hidden)
        let out = self.c_proj.forward(&hidden)?; // (..., C)
        self.dropout.forward(&out)
    }

    fn parameters(&self) -> Vec<Parameter> {
        let mut parameters = prefix_parameters("c_fc", self.c_fc.parameters());
        parameters.extend(prefix_parameters("c_proj", self.c_proj.parameters()));
        parameters
    }

    fn set_training(&mut self, training: bool) {
        self.dropout.set_training(training);
    }

    fn generators(&self) -> Vec<Generator> {
        prefix_generators("dropout", self.dropout.generators())
    }
}
