//! A stack of layers applied in order.

use aigc_autograd::{Result, Var};

use crate::module::{prefix_generators, prefix_parameters, Generator, Module, Parameter};

/// Layers applied one after another, like Keras `Sequential` and PyTorch
/// `nn.Sequential`. Parameters are named `"{index}.{name}"` (`0.weight`,
/// `0.bias`, `2.weight`, ...), as in PyTorch.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{Linear, Module, ReLU, Sequential};
/// use aigc_tensor::{Rng, Tensor};
/// let mut rng = Rng::seed(0);
/// let model = Sequential::new()
///     .add(Linear::new(4, 8, true, &mut rng))
///     .add(ReLU)
///     .add(Linear::new(8, 3, true, &mut rng));
/// let names: Vec<String> = model.parameters().into_iter().map(|p| p.name).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// assert_eq!(model.forward(&Var::new(Tensor::ones(&[5, 4])))?.shape(), vec![5, 3]);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// Creates an empty stack; its forward pass is the identity.
    pub fn new() -> Sequential {
        Sequential { layers: Vec::new() }
    }

    /// Appends `layer` and returns the stack, for building in one expression.
    #[allow(clippy::should_implement_trait)] // the Keras name; it is not `+`
    pub fn add(mut self, layer: impl Module + 'static) -> Sequential {
        self.push(layer);
        self
    }

    /// Appends `layer`.
    pub fn push(&mut self, layer: impl Module + 'static) {
        self.layers.push(Box::new(layer));
    }

    /// Returns the number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Returns whether the stack has no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Returns the layers, in order.
    pub fn layers(&self) -> &[Box<dyn Module>] {
        &self.layers
    }
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequential").field("len", &self.layers.len()).finish()
    }
}

impl Module for Sequential {
    /// Feeds `input` through every layer in order.
    fn forward(&self, input: &Var) -> Result<Var> {
        let mut x = input.clone();
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        Ok(x)
    }

    fn parameters(&self) -> Vec<Parameter> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(index, layer)| prefix_parameters(&index.to_string(), layer.parameters()))
            .collect()
    }

    fn set_training(&mut self, training: bool) {
        for layer in &mut self.layers {
            layer.set_training(training);
        }
    }

    fn generators(&self) -> Vec<Generator> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(index, layer)| prefix_generators(&index.to_string(), layer.generators()))
            .collect()
    }
}
