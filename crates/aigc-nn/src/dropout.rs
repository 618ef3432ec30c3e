//! Inverted dropout.

use std::sync::{Arc, Mutex};

use aigc_autograd::{Error, Result, Var};
use aigc_tensor::{Rng, Tensor};

use crate::module::{Generator, Module, Parameter};

/// Inverted dropout (Srivastava et al., 2014): in training mode each element
/// is zeroed with probability `p` and the survivors are scaled by 1/(1 − p),
/// so the expected value is unchanged and evaluation needs no rescaling.
///
/// A new layer is in training mode, as in PyTorch; call
/// [`Module::set_training`] with `false` for evaluation, where dropout is
/// the identity. It is also the identity when `p` is 0. The masks come from
/// the layer's own seeded generator, so a run is reproducible, and
/// [`Module::generators`] exposes that generator (named `rng`) so a
/// checkpoint can save its state.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{Dropout, Module};
/// use aigc_tensor::Tensor;
/// let mut dropout = Dropout::new(0.5, 42)?;
/// let x = Var::new(Tensor::ones(&[1000]));
/// let kept = dropout.forward(&x)?.value().to_vec();
/// assert!(kept.iter().all(|&v| v == 0.0 || v == 2.0));
/// dropout.set_training(false);
/// assert_eq!(dropout.forward(&x)?.value().to_vec(), vec![1.0; 1000]);
/// assert!(Dropout::new(1.0, 42).is_err());
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub struct Dropout {
    p: f32,
    training: bool,
    /// Shared with the handles [`Module::generators`] returns.
    rng: Arc<Mutex<Rng>>,
}

impl Dropout {
    /// Creates a dropout layer that zeroes elements with probability `p`,
    /// drawing its masks from a generator seeded with `seed`.
    ///
    /// Fails unless `0 ≤ p < 1`.
    pub fn new(p: f32, seed: u64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid("dropout", format!("the probability p = {p} must be in [0, 1)")));
        }
        Ok(Dropout { p, training: true, rng: Arc::new(Mutex::new(Rng::seed(seed))) })
    }

    /// Returns the probability of zeroing an element.
    pub fn p(&self) -> f32 {
        self.p
    }

    /// Returns whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Returns whether `forward` changes its input, that is, training mode and p > 0.
    pub fn is_active(&self) -> bool {
        self.training && self.p > 0.0
    }
}

impl std::fmt::Debug for Dropout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dropout").field("p", &self.p).field("training", &self.training).finish()
    }
}

impl Clone for Dropout {
    /// Copies the layer, including the generator's current state. The copy
    /// draws from its own generator, not from the original's.
    fn clone(&self) -> Self {
        let rng = self.rng.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Dropout { p: self.p, training: self.training, rng: Arc::new(Mutex::new(rng)) }
    }
}

impl Module for Dropout {
    /// Zeroes each element with probability p and scales the rest by
    /// 1/(1 − p) in training mode; returns `input` itself otherwise.
    fn forward(&self, input: &Var) -> Result<Var> {
        if !self.is_active() {
            return Ok(input.clone());
        }
        let shape = input.shape();
        let count: usize = shape.iter().product();
        let scale = 1.0 / (1.0 - self.p);
        let mask = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let values = (0..count).map(|_| if rng.uniform() < self.p { 0.0 } else { scale }).collect();
            Tensor::from_vec(values, &shape)?
        };
        let value = input.value().mul(&mask)?;
        // y = x·m with m ∈ {0, 1/(1 − p)}: ∂y/∂x = m
        Ok(Var::from_op("dropout", value, &[input], move |g| Ok(vec![Some(g.mul(&mask)?)])))
    }

    fn parameters(&self) -> Vec<Parameter> {
        Vec::new()
    }

    fn generators(&self) -> Vec<Generator> {
        vec![Generator::new("rng", Arc::clone(&self.rng))]
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
