//! Initial values for parameters.

use aigc_tensor::{Rng, Tensor};

/// How to fill a new parameter.
///
/// ```
/// use aigc_nn::Init;
/// use aigc_tensor::Rng;
/// let mut rng = Rng::seed(0);
/// let w = Init::GlorotUniform.tensor(&[4, 3], &mut rng);   // (out, in)
/// let limit = (6.0f32 / (3.0 + 4.0)).sqrt();
/// assert!(w.to_vec().iter().all(|v| v.abs() <= limit));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Draws from N(0, std²), as GPT-2 does with std 0.02.
    Normal {
        /// The standard deviation.
        std: f32,
    },
    /// Draws from U(−a, a) with a = √(6 / (fan_in + fan_out)), the default of
    /// Keras `Dense` (Glorot and Bengio, 2010).
    GlorotUniform,
    /// Fills with 0.
    Zeros,
    /// Fills with 1.
    Ones,
}

impl Init {
    /// Creates a tensor of `shape` filled by this rule.
    ///
    /// For Glorot, a 2-D shape is read as `(out, in)` (PyTorch layout), so
    /// fan_in = `shape[1]` and fan_out = `shape[0]`. A 1-D shape uses its
    /// length for both, and each axis after the second multiplies both fans
    /// (a receptive field, as for convolution kernels).
    pub fn tensor(&self, shape: &[usize], rng: &mut Rng) -> Tensor {
        match *self {
            Init::Normal { std } => Tensor::randn(shape, 0.0, std, rng),
            Init::GlorotUniform => {
                let (fan_in, fan_out) = fans(shape);
                let limit = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
                Tensor::rand_uniform(shape, -limit, limit, rng)
            }
            Init::Zeros => Tensor::zeros(shape),
            Init::Ones => Tensor::ones(shape),
        }
    }
}

/// (fan_in, fan_out) of a weight of `shape`, read as `(out, in, receptive field...)`.
fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [out, input, field @ ..] => {
            let receptive: usize = field.iter().product();
            (input * receptive, out * receptive)
        }
    }
}
