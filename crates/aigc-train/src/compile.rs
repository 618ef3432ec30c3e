//! `compile()`: choosing the optimizer, the loss and the metrics, by name or
//! by type.
//!
//! | name (case-insensitive)             | type                                  |
//! | ----------------------------------- | ------------------------------------- |
//! | `"sgd"`, `"adam"`, `"adamw"`        | [`Optimizer::sgd`], [`Optimizer::adam`], [`Optimizer::adamw`] |
//! | `"categorical_crossentropy"`        | [`Loss::CategoricalCrossentropy`]     |
//! | `"sparse_categorical_crossentropy"` | [`Loss::SparseCategoricalCrossentropy`] |
//! | `"mse"`                             | [`Loss::Mse`]                         |
//! | `"accuracy"`                        | [`Metric::Accuracy`]                  |
//! | `"sparse_categorical_accuracy"`     | [`Metric::SparseCategoricalAccuracy`] |
//! | `"perplexity"`                      | [`Metric::Perplexity`]                |

use std::fmt;
use std::str::FromStr;

use aigc_autograd::{Tensor, Var};
use aigc_nn::Module;

use crate::error::{Result, TrainError};
use crate::model::Model;

/// The learning rate an optimizer chosen by name gets, as in Keras.
pub const DEFAULT_LEARNING_RATE: f32 = 1e-3;

/// An optimizer for [`Model::compile`]: a boxed [`aigc_optim::Optimizer`].
///
/// ```
/// use aigc_train::Optimizer;
/// let adam = Optimizer::adam(3e-4);
/// assert_eq!(adam.name(), "adam");
/// assert_eq!(adam.learning_rate(), 3e-4);
/// ```
pub struct Optimizer {
    inner: Box<dyn aigc_optim::Optimizer>,
}

impl Optimizer {
    /// Stochastic gradient descent with learning rate `lr`.
    pub fn sgd(lr: f32) -> Self {
        Optimizer { inner: Box::new(aigc_optim::Sgd::new(lr)) }
    }

    /// Adam with learning rate `lr` and the usual betas (0.9, 0.999).
    pub fn adam(lr: f32) -> Self {
        Optimizer { inner: Box::new(aigc_optim::Adam::new(lr)) }
    }

    /// AdamW (decoupled weight decay) with learning rate `lr` and weight decay `weight_decay`.
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        Optimizer { inner: Box::new(aigc_optim::AdamW::new(lr, weight_decay)) }
    }

    /// Creates the optimizer called `name` (case-insensitive) with learning rate `lr`.
    ///
    /// Fails with the list of valid names when `name` is unknown.
    pub fn from_name(name: &str, lr: f32) -> Result<Self> {
        let lowercase = name.to_ascii_lowercase();
        if !aigc_optim::OPTIMIZER_NAMES.contains(&lowercase.as_str()) {
            return Err(TrainError::unknown_name("optimizer", name, aigc_optim::OPTIMIZER_NAMES));
        }
        Ok(Optimizer { inner: aigc_optim::optimizer_by_name(&lowercase, lr)? })
    }

    /// Returns the optimizer's name, for example `"adamw"`.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Returns the current learning rate.
    pub fn learning_rate(&self) -> f32 {
        self.inner.learning_rate()
    }

    /// Returns the boxed optimizer.
    pub fn into_inner(self) -> Box<dyn aigc_optim::Optimizer> {
        self.inner
    }
}

impl From<Box<dyn aigc_optim::Optimizer>> for Optimizer {
    fn from(inner: Box<dyn aigc_optim::Optimizer>) -> Self {
        Optimizer { inner }
    }
}

impl fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Optimizer").field("name", &self.name()).field("learning_rate", &self.learning_rate()).finish()
    }
}

/// Conversion into the optimizer [`Model::compile`] takes: a name (learning rate
/// [`DEFAULT_LEARNING_RATE`]), an [`Optimizer`], or a boxed
/// [`aigc_optim::Optimizer`].
pub trait IntoOptimizer {
    /// Converts `self`, failing on an unknown name.
    fn into_optimizer(self) -> Result<Optimizer>;
}

impl IntoOptimizer for &str {
    fn into_optimizer(self) -> Result<Optimizer> {
        Optimizer::from_name(self, DEFAULT_LEARNING_RATE)
    }
}

impl IntoOptimizer for String {
    fn into_optimizer(self) -> Result<Optimizer> {
        self.as_str().into_optimizer()
    }
}

impl IntoOptimizer for &String {
    fn into_optimizer(self) -> Result<Optimizer> {
        self.as_str().into_optimizer()
    }
}

impl IntoOptimizer for Optimizer {
    fn into_optimizer(self) -> Result<Optimizer> {
        Ok(self)
    }
}

impl IntoOptimizer for Box<dyn aigc_optim::Optimizer> {
    fn into_optimizer(self) -> Result<Optimizer> {
        Ok(Optimizer::from(self))
    }
}

/// A loss function. Every loss takes the model's raw outputs (logits), never
/// probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Cross-entropy of softmax(logits). Targets with one axis fewer than the
    /// logits are class ids (fused with log-softmax), and targets of the
    /// logits' shape are one-hot rows or probability distributions.
    CategoricalCrossentropy,
    /// Cross-entropy of softmax(logits) against class ids.
    SparseCategoricalCrossentropy,
    /// Mean squared error between the outputs and targets of the same shape.
    Mse,
}

impl Loss {
    /// The names [`Loss::from_name`] accepts, in the order of the variants.
    pub const NAMES: &'static [&'static str] = &["categorical_crossentropy", "sparse_categorical_crossentropy", "mse"];

    /// Parses a loss name (case-insensitive). The error lists the valid names.
    pub fn from_name(name: &str) -> Result<Loss> {
        match name.to_ascii_lowercase().as_str() {
            "categorical_crossentropy" => Ok(Loss::CategoricalCrossentropy),
            "sparse_categorical_crossentropy" => Ok(Loss::SparseCategoricalCrossentropy),
            "mse" => Ok(Loss::Mse),
            _ => Err(TrainError::unknown_name("loss", name, Loss::NAMES)),
        }
    }

    /// Returns the lowercase name, as in Keras.
    pub fn name(self) -> &'static str {
        match self {
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::Mse => "mse",
        }
    }

    /// Computes the mean loss of a batch: a scalar that can be back-propagated.
    ///
    /// Shapes: logits (..., C); targets (...) as class ids (−1 marks a
    /// position to ignore) or (..., C) as distributions, as the loss allows.
    pub fn compute(self, logits: &Var, targets: &Tensor) -> aigc_tensor::Result<Var> {
        match self {
            Loss::CategoricalCrossentropy => aigc_nn::categorical_crossentropy(logits, targets),
            Loss::SparseCategoricalCrossentropy => aigc_nn::sparse_categorical_crossentropy(logits, targets),
            Loss::Mse => aigc_nn::mse(logits, targets),
        }
    }
}

impl FromStr for Loss {
    type Err = TrainError;

    fn from_str(name: &str) -> Result<Loss> {
        Loss::from_name(name)
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Conversion into the loss [`Model::compile`] takes: a name or a [`Loss`].
pub trait IntoLoss {
    /// Converts `self`, failing on an unknown name.
    fn into_loss(self) -> Result<Loss>;
}

impl IntoLoss for Loss {
    fn into_loss(self) -> Result<Loss> {
        Ok(self)
    }
}

impl IntoLoss for &str {
    fn into_loss(self) -> Result<Loss> {
        Loss::from_name(self)
    }
}

impl IntoLoss for String {
    fn into_loss(self) -> Result<Loss> {
        Loss::from_name(&self)
    }
}

impl IntoLoss for &String {
    fn into_loss(self) -> Result<Loss> {
        Loss::from_name(self)
    }
}

/// A metric reported beside the loss during training and evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// The fraction of rows whose largest logit is the target class; targets
    /// may be class ids or one-hot rows.
    Accuracy,
    /// The fraction of rows whose largest logit is the target class id;
    /// rows whose id is −1 are not counted.
    SparseCategoricalAccuracy,
    /// exp(mean loss): meaningful with a cross-entropy loss, where it is the
    /// effective number of equally likely choices per prediction.
    Perplexity,
}

impl Metric {
    /// The names [`Metric::from_name`] accepts, in the order of the variants.
    pub const NAMES: &'static [&'static str] = &["accuracy", "sparse_categorical_accuracy", "perplexity"];

    /// Parses a metric name (case-insensitive). The error lists the valid names.
    pub fn from_name(name: &str) -> Result<Metric> {
        match name.to_ascii_lowercase().as_str() {
            "accuracy" => Ok(Metric::Accuracy),
            "sparse_categorical_accuracy" => Ok(Metric::SparseCategoricalAccuracy),
            "perplexity" => Ok(Metric::Perplexity),
            _ => Err(TrainError::unknown_name("metric", name, Metric::NAMES)),
        }
    }

    /// Returns the lowercase name, the key of the metric in [`crate::History`].
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            Metric::Perplexity => "perplexity",
        }
    }
}

impl FromStr for Metric {
    type Err = TrainError;

    fn from_str(name: &str) -> Result<Metric> {
        Metric::from_name(name)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The choices of `compile`: the optimizer with its state, the loss and the metrics.
pub(crate) struct Compiled {
    pub(crate) optimizer: Box<dyn aigc_optim::Optimizer>,
    pub(crate) loss: Loss,
    pub(crate) metrics: Vec<Metric>,
}

impl<N: Module> Model<N> {
    /// Chooses the optimizer, the loss and the metrics for [`Model::fit`] and
    /// [`Model::evaluate`]. Calling it again replaces all three and starts
    /// the optimizer from a fresh state.
    ///
    /// * `optimizer`: `"sgd"`, `"adam"` or `"adamw"` (case-insensitive; learning
    ///   rate [`DEFAULT_LEARNING_RATE`], as in Keras), or an [`Optimizer`] such
    ///   as `Optimizer::adamw(3e-4, 0.1)`.
    /// * `loss`: `"categorical_crossentropy"`, `"sparse_categorical_crossentropy"`
    ///   or `"mse"`, or a [`Loss`]. Losses are computed from the logits, so the
    ///   model must not end in a softmax. `categorical_crossentropy` reads
    ///   integer targets with one axis fewer than the logits (a GPT's (B, T)
    ///   next-token ids against (B, T, V) logits) as class ids, fused with
    ///   log-softmax, and targets of the logits' shape as one-hot rows or
    ///   probability distributions. Class id −1 marks a position to ignore.
    /// * `metrics`: any of `"accuracy"`, `"sparse_categorical_accuracy"` and
    ///   `"perplexity"`; [`Model::compile_with`] takes [`Metric`] values.
    ///
    /// Fails on an unknown name (the error lists the valid ones) or a metric
    /// given twice.
    ///
    /// ```
    /// use aigc_nn::{Linear, ReLU};
    /// use aigc_tensor::Rng;
    /// use aigc_train::models::Sequential;
    /// let mut rng = Rng::seed(0);
    /// let mut model = Sequential::new()
    ///     .add(Linear::new(4, 8, true, &mut rng))
    ///     .add(ReLU)
    ///     .add(Linear::new(8, 3, true, &mut rng));
    /// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    /// let unknown = model.compile("adamx", "mse", &[]).unwrap_err();
    /// assert!(unknown.to_string().contains("sgd, adam, adamw"));
    /// # Ok::<(), aigc_train::TrainError>(())
    /// ```
    pub fn compile(&mut self, optimizer: impl IntoOptimizer, loss: impl IntoLoss, metrics: &[&str]) -> Result<()> {
        let metrics = metrics.iter().map(|name| Metric::from_name(name)).collect::<Result<Vec<_>>>()?;
        self.compile_with(optimizer, loss, &metrics)
    }

    /// [`Model::compile`] with typed metrics.
    pub fn compile_with(
        &mut self,
        optimizer: impl IntoOptimizer,
        loss: impl IntoLoss,
        metrics: &[Metric],
    ) -> Result<()> {
        let optimizer = optimizer.into_optimizer()?;
        let loss = loss.into_loss()?;
        for (i, metric) in metrics.iter().enumerate() {
            if metrics[..i].contains(metric) {
                return Err(TrainError::invalid(
                    "compile",
                    format!("metric {:?} is listed twice; list each metric once", metric.name()),
                ));
            }
        }
        self.compiled = Some(Compiled { optimizer: optimizer.into_inner(), loss, metrics: metrics.to_vec() });
        Ok(())
    }

    /// Whether [`Model::compile`] has been called.
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    /// Returns the compiled loss, or `None` before [`Model::compile`].
    pub fn loss(&self) -> Option<Loss> {
        self.compiled.as_ref().map(|c| c.loss)
    }

    /// Returns the compiled metrics, empty before [`Model::compile`].
    pub fn metrics(&self) -> &[Metric] {
        self.compiled.as_ref().map_or(&[], |c| &c.metrics)
    }

    /// Returns the compiled optimizer, for example to save its state in a checkpoint.
    pub fn optimizer(&self) -> Option<&dyn aigc_optim::Optimizer> {
        self.compiled.as_ref().map(|c| c.optimizer.as_ref())
    }

    /// Returns the compiled optimizer mutably, for example to load a saved state.
    pub fn optimizer_mut(&mut self) -> Option<&mut (dyn aigc_optim::Optimizer + 'static)> {
        self.compiled.as_mut().map(|c| c.optimizer.as_mut())
    }

    /// Returns the compiled parts, or [`TrainError::NotCompiled`] naming `op`.
    pub(crate) fn compiled(&self, op: &'static str) -> Result<&Compiled> {
        self.compiled.as_ref().ok_or(TrainError::NotCompiled { op })
    }
}
