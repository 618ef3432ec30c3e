//! [`TrainError`]: what can go wrong while compiling, training, evaluating or
//! saving a model.

use std::path::PathBuf;

/// An error from aigc-train. Every message names the value that was wrong and
/// what was expected.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed, for example because the data and the model
    /// disagree on shapes.
    #[error(transparent)]
    Tensor(#[from] aigc_tensor::Error),

    /// A name that is not one of the supported optimizers, losses or metrics.
    #[error("unknown {kind} {name:?} (valid names: {})", valid.join(", "))]
    UnknownName {
        /// The kind of name: `"optimizer"`, `"loss"` or `"metric"`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// The names that are accepted (case-insensitive).
        valid: Vec<String>,
    },

    /// An argument outside its valid range, such as `batch_size` 0 or
    /// `validation_split` 1.5.
    #[error("{op}: {message}")]
    InvalidArgument {
        /// The method that rejected the argument, for example `"fit"`.
        op: &'static str,
        /// The bad value and what was expected.
        message: String,
    },

    /// `fit`, `evaluate` or `predict` was called before `compile`.
    #[error("{op}: call compile() before {op}() (the model is not compiled)")]
    NotCompiled {
        /// The method that needs a compiled model.
        op: &'static str,
    },

    /// The loss or the gradient norm became NaN or infinite, so training
    /// stopped before the update could spread it into the weights.
    #[error(
        "{op}: training diverged at step {step}: loss {loss}, gradient norm {grad_norm}{}; {}",
        skipped_note(*skipped),
        diverged_advice(last_checkpoint)
    )]
    Diverged {
        /// The training method, `"fit"` or `"fit_batches"`.
        op: &'static str,
        /// The step that failed, counting from 1.
        step: usize,
        /// The step's loss.
        loss: f32,
        /// The global gradient norm before clipping.
        grad_norm: f32,
        /// Non-finite steps skipped in a row just before this one, with
        /// `skip_nonfinite` on; 0 otherwise.
        skipped: usize,
        /// The step and directory of the last checkpoint this run wrote, if any.
        last_checkpoint: Option<(usize, PathBuf)>,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A JSON file could not be parsed or written.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },

    /// A file was read but its contents are not what was expected (a
    /// checkpoint with a missing tensor, a CSV row with the wrong field count).
    #[error("{}: {message}", path.display())]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// The problem, with the offending value.
        message: String,
    },
}

/// Returns the part of a [`TrainError::Diverged`] message that counts the skipped steps.
fn skipped_note(skipped: usize) -> String {
    match skipped {
        0 => String::new(),
        n => format!(", after {n} non-finite steps in a row were skipped with the learning rate halved at each"),
    }
}

/// The advice that ends a [`TrainError::Diverged`] message.
fn diverged_advice(last_checkpoint: &Option<(usize, PathBuf)>) -> String {
    match last_checkpoint {
        None => "lower the learning rate or set clip_grad_norm".to_string(),
        Some((step, dir)) => format!(
            "the last good checkpoint is step {step} in {}; resume from it with a lower learning rate or with clip_grad_norm",
            dir.display()
        ),
    }
}

/// The result type of aigc-train.
pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    /// Builds a [`TrainError::InvalidArgument`].
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        TrainError::InvalidArgument { op, message: message.into() }
    }

    /// Builds a [`TrainError::UnknownName`] from the accepted names.
    pub fn unknown_name(kind: &'static str, name: &str, valid: &[&str]) -> Self {
        TrainError::UnknownName { kind, name: name.to_string(), valid: valid.iter().map(|v| v.to_string()).collect() }
    }

    /// Builds a [`TrainError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io { path: path.into(), source }
    }

    /// Builds a [`TrainError::Json`] for `path`.
    pub fn json(path: impl Into<PathBuf>, source: serde_json::Error) -> Self {
        TrainError::Json { path: path.into(), source }
    }

    /// Builds a [`TrainError::InvalidFile`] for `path`.
    pub fn invalid_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TrainError::InvalidFile { path: path.into(), message: message.into() }
    }
}
