//! The fully connected layer: y = x·Wᵀ + b.

use aigc_autograd::{Error, Result, Var};
use aigc_tensor::{Rng, Tensor};

use crate::init::Init;
use crate::module::{Module, ParamKind, Parameter};

/// A fully connected layer, `y = x·Wᵀ + b`, like PyTorch `nn.Linear` and
/// Keras `Dense`.
///
/// Shapes: x `(..., in_features)` → y `(..., out_features)`. The weight is
/// `(out_features, in_features)`, the PyTorch layout, so checkpoints map one
/// to one.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{Linear, Module};
/// use aigc_tensor::{Rng, Tensor};
/// let layer = Linear::new(3, 2, true, &mut Rng::seed(0));
/// let x = Var::new(Tensor::ones(&[4, 5, 3]));        // (B, T, in)
/// assert_eq!(layer.forward(&x)?.shape(), vec![4, 5, 2]);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Linear {
    /// The weight, `(out_features, in_features)`.
    pub weight: Var,
    /// The bias, `(out_features,)`, if the layer has one.
    pub bias: Option<Var>,
}

/// The Keras name of [`Linear`].
pub type Dense = Linear;

impl Linear {
    /// Creates a layer with a Glorot-uniform weight (the Keras default) and,
    /// if `bias`, a zero bias.
    pub fn new(in_features: usize, out_features: usize, bias: bool, rng: &mut Rng) -> Linear {
        Linear::with_init(in_features, out_features, bias, Init::GlorotUniform, rng)
    }

    /// Creates a layer whose weight is drawn by `weight_init`; the bias, if
    /// any, starts at zero.
    pub fn with_init(in_features: usize, out_features: usize, bias: bool, weight_init: Init, rng: &mut Rng) -> Linear {
        let weight = Var::parameter(weight_init.tensor(&[out_features, in_features], rng));
        let bias = bias.then(|| Var::parameter(Tensor::zeros(&[out_features])));
        Linear { weight, bias }
    }

    /// Returns the input size.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Returns the output size.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    /// Computes `x·Wᵀ + b` for x `(..., in_features)`, as one GEMM over all
    /// leading axes flattened into rows.
    fn forward(&self, x: &Var) -> Result<Var> {
        let x_shape = x.shape();
        let weight_shape = self.weight.shape();
        let (out_features, in_features) = (weight_shape[0], weight_shape[1]);
        if x_shape.last() != Some(&in_features) {
            return Err(Error::shape(
                "linear",
                &x_shape,
                &weight_shape,
                format!("the input's last axis must equal in_features = {in_features} of the (out, in) weight"),
            ));
        }

        let leading = &x_shape[..x_shape.len() - 1];
        let rows: usize = leading.iter().product();
        let x_2d = x.reshape(&[rows, in_features])?; // (N, in)
        let mut y = x_2d.matmul(&self.weight.t()?)?; // (N, out)
        if let Some(bias) = &self.bias {
            y = y.add(bias)?;
        }

        let mut out_shape = leading.to_vec();
        out_shape.push(out_features);
        y.reshape(&out_shape)
    }

    fn parameters(&self) -> Vec<Parameter> {
        let mut parameters = vec![Parameter::new("weight", self.weight.clone(), ParamKind::Weight)];
        if let Some(bias) = &self.bias {
            parameters.push(Parameter::new("bias", bias.clone(), ParamKind::Bias));
        }
        parameters
    }
}
