//! [`Model`]: a network plus what `compile` chose, with Keras's methods.

use std::ops::{Deref, DerefMut};

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{Module, Parameter, Sequential};

use crate::compile::Compiled;
use crate::error::Result;

/// A network `N` with Keras's training methods: [`Model::compile`],
/// [`Model::fit`], [`Model::evaluate`] and [`Model::predict`].
///
/// A model dereferences to its network, so the network's methods (such as
/// `forward`, with [`Module`] imported) work on the model directly.
///
/// The network is in evaluation mode (`set_training(false)`, so dropout is
/// off) except while [`Model::fit`] runs, which switches it to training mode
/// and back. Changing the mode through `DerefMut` lasts until the next `fit`.
///
/// ```
/// use aigc_nn::{Linear, ReLU};
/// use aigc_tensor::{Rng, Tensor};
/// use aigc_train::models::Sequential;
/// let mut rng = Rng::seed(0);
/// let model = Sequential::new()
///     .add(Linear::new(2, 4, true, &mut rng))
///     .add(ReLU)
///     .add(Linear::new(4, 1, true, &mut rng));
/// assert_eq!(model.num_parameters(), 2 * 4 + 4 + 4 * 1 + 1);
/// # Ok::<(), aigc_train::TrainError>(())
/// ```
pub struct Model<N: Module> {
    pub(crate) net: N,
    pub(crate) compiled: Option<Compiled>,
}

impl<N: Module> Model<N> {
    /// Returns the network.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// Returns the network's parameters in its fixed order, as
    /// [`Module::parameters`] does, without the trait in scope.
    pub fn parameters(&self) -> Vec<Parameter> {
        self.net.parameters()
    }

    /// Returns the total number of scalar parameters, as
    /// [`Module::num_parameters`] does, without the trait in scope.
    pub fn num_parameters(&self) -> usize {
        self.net.num_parameters()
    }

    /// Returns the network and drops the compiled optimizer, loss and metrics.
    pub fn into_inner(self) -> N {
        self.net
    }
}

impl<N: Module> From<N> for Model<N> {
    /// Wraps a network, switching it to evaluation mode.
    fn from(mut net: N) -> Self {
        net.set_training(false);
        Model { net, compiled: None }
    }
}

impl<N: Module> Deref for Model<N> {
    type Target = N;

    fn deref(&self) -> &N {
        &self.net
    }
}

impl<N: Module> DerefMut for Model<N> {
    fn deref_mut(&mut self) -> &mut N {
        &mut self.net
    }
}

impl Model<Gpt> {
    /// Builds a GPT from `config`, initialised from [`aigc_gpt::DEFAULT_SEED`].
    ///
    /// ```no_run
    /// use aigc_gpt::GptConfig;
    /// use aigc_train::models::ChatGPT;
    /// let model = ChatGPT::new(GptConfig::tiny());
    /// println!("{} parameters", model.num_parameters());
    /// ```
    ///
    /// # Panics
    /// When `config` is invalid (a zero size, `n_embd` not divisible by
    /// `n_head`, dropout outside [0, 1)). The message names the field. Use
    /// [`Model::try_new`] for a config that comes from user input.
    pub fn new(config: GptConfig) -> Self {
        match Self::try_new(config) {
            Ok(model) => model,
            Err(error) => panic!("ChatGPT::new: invalid GptConfig: {error}"),
        }
    }

    /// Builds a GPT from `config`, failing when the config is invalid.
    pub fn try_new(config: GptConfig) -> Result<Self> {
        Ok(Model::from(Gpt::new(config)?))
    }
}

impl Model<Sequential> {
    /// Creates an empty stack of layers. Add layers with [`Model::add`].
    pub fn new() -> Self {
        Model::from(Sequential::new())
    }

    /// Appends `layer` and returns the stack, in evaluation mode.
    #[allow(clippy::should_implement_trait)] // Keras's name for appending a layer, not `+`.
    pub fn add(self, layer: impl Module + 'static) -> Self {
        let mut net = self.net.add(layer);
        net.set_training(false);
        Model { net, compiled: self.compiled }
    }
}

impl Default for Model<Sequential> {
    fn default() -> Self {
        Self::new()
    }
}
