//! # aigc-train
//!
//! Keras-style training for aigc: wrap a network in a [`Model`], then
//! [`Model::compile`], [`Model::fit`], [`Model::evaluate`] and
//! [`Model::predict`].
//!
//! ```no_run
//! use aigc_gpt::GptConfig;
//! use aigc_tensor::{Rng, Tensor};
//! use aigc_train::models::ChatGPT;
//!
//! // Token ids (N, T) and the next token at each position (N, T).
//! let mut rng = Rng::seed(0);
//! let ids: Vec<f32> = (0..64 * 33).map(|_| rng.below(256) as f32).collect();
//! let tokens = Tensor::from_vec(ids, &[64, 33])?;
//! let x_train = tokens.narrow(1, 0, 32)?;
//! let y_train = tokens.narrow(1, 1, 32)?;
//!
//! let mut model = ChatGPT::new(GptConfig::tiny());
//! model.compile("adam", "categorical_crossentropy", &["accuracy"])?;
//! let history = model.fit(&x_train, &y_train, 10, 32)?;   // epochs, batch_size
//! let (loss, accuracy) = model.evaluate(&x_train, &y_train)?;
//! println!("loss {loss:.3}, accuracy {accuracy:.3}, {} epochs", history.len());
//! # Ok::<(), aigc_train::TrainError>(())
//! ```
//!
//! ## Keras → aigc
//!
//! | Keras | aigc |
//! | --- | --- |
//! | `keras.Sequential([Dense(128, activation="relu"), Dense(10)])` | `Sequential::new().add(Dense::new(64, 128, true, &mut rng)).add(ReLU).add(Dense::new(128, 10, true, &mut rng))` |
//! | `model.compile(optimizer="adam", loss=..., metrics=["accuracy"])` | `model.compile("adam", ..., &["accuracy"])?` |
//! | `keras.optimizers.AdamW(learning_rate=3e-4, weight_decay=0.1)` | [`Optimizer::adamw`]`(3e-4, 0.1)` |
//! | `model.fit(x, y, epochs=10, batch_size=32)` | `model.fit(&x, &y, 10, 32)?` |
//! | `model.fit(..., validation_split=0.2, callbacks=[EarlyStopping(...)])` | `model.fit_with(&x, &y, FitOptions::new(10, 32).validation_split(0.2).callback(EarlyStopping::new("val_loss", 3)))?` |
//! | `history.history["val_loss"]` | `history.get("val_loss")` |
//! | `model.evaluate(x, y)` | `model.evaluate(&x, &y)?` → `(loss, first metric)` |
//! | `model.predict(x)` | `model.predict(&x, 256)?` |
//!
//! ## Losses take logits
//!
//! Every [`Loss`] is computed from the network's raw outputs, so a network
//! must not end in a softmax (as with Keras's `from_logits=True`).
//! `categorical_crossentropy` accepts two kinds of targets. Integer targets
//! with one axis fewer than the logits are class ids, and the loss is fused
//! with log-softmax: a GPT's (B, T) next-token ids against its (B, T, V)
//! logits are this case. Targets of the logits' shape are one-hot rows or
//! probability distributions. `sparse_categorical_crossentropy` takes class
//! ids only.
//! Class id −1 marks a position to ignore.
//!
//! ## Training on a stream
//!
//! [`Model::fit_batches`] runs a number of optimizer steps on batches drawn
//! from a [`BatchSource`], with a learning-rate schedule, periodic
//! evaluation and step logs, as language models are trained.
//!
//! ## Progress
//!
//! With `verbose` on (the default), training shows an `indicatif` progress
//! bar when stderr is a terminal and one plain line per epoch (or per log
//! interval) otherwise. The library prints nothing else.
#![warn(missing_docs)]

mod batches;
mod callbacks;
pub mod chat_dataset;
pub mod checkpoint;
mod compile;
pub mod datasets;
mod error;
mod evaluate;
#[doc(hidden)]
pub mod fault;
mod fit;
mod fit_batches;
mod history;
pub mod lm_dataset;
mod model;
mod nonfinite;
mod progress;
mod resume;
mod running;
mod safetensors_file;
mod step;
pub mod training_state;
pub mod train_log;

pub use batches::{BatchSource, TensorBatches};
pub use callbacks::{Callback, EarlyStopping, EpochLogs, LearningRateScheduler, SkippedStep, StepLog, TrainingControl};
pub use compile::{IntoLoss, IntoOptimizer, Loss, Metric, Optimizer, DEFAULT_LEARNING_RATE};
pub use error::{Result, TrainError};
pub use evaluate::{Evaluation, DEFAULT_EVAL_BATCH_SIZE};
pub use fit::FitOptions;
pub use fit_batches::StepOptions;
pub use history::History;
pub use model::Model;
pub use nonfinite::{MAX_CONSECUTIVE_SKIPS, NONFINITE_LR_FACTOR};

/// The model types with their Keras names.
pub mod models {
    /// A GPT language model with Keras's methods: `ChatGPT::new(GptConfig::tiny())`.
    pub type ChatGPT = crate::Model<aigc_gpt::Gpt>;

    /// A stack of layers with Keras's methods: `Sequential::new().add(layer)`.
    pub type Sequential = crate::Model<aigc_nn::Sequential>;
}
