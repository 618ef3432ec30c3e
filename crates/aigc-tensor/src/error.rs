//! The error type of tensor operations.
//!
//! Convention for the whole workspace: an operation whose inputs can disagree
//! (shapes, axes, indices) returns `Result`; an operation that cannot fail
//! (for example `exp`) returns its value directly. Nothing panics on shapes.
//! The exception is a constructor without a `Result` (`full`, `zeros`, `eye`,
//! ...) given a shape whose element count overflows.

/// An error from a tensor operation. Every variant names the operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Two operands whose shapes do not fit together.
    #[error("{op}: incompatible shapes {lhs:?} and {rhs:?}: {reason}")]
    ShapeMismatch {
        /// The operation, for example `"matmul"`.
        op: &'static str,
        /// Shape of the left (or first) operand.
        lhs: Vec<usize>,
        /// Shape of the right (or second) operand, or the requested shape.
        rhs: Vec<usize>,
        /// What was expected.
        reason: String,
    },
    /// An axis outside the tensor's dimensions.
    #[error("{op}: axis {axis} is out of range for a tensor of shape {shape:?} (valid: -{ndim}..{ndim})", ndim = shape.len())]
    AxisOutOfRange {
        /// The operation.
        op: &'static str,
        /// The axis as given.
        axis: isize,
        /// Shape of the tensor.
        shape: Vec<usize>,
    },
    /// Any other invalid argument, with a message that says what was expected.
    #[error("{op}: {message}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
}

/// The result type of fallible tensor operations.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds a [`Error::ShapeMismatch`].
    pub fn shape(op: &'static str, lhs: &[usize], rhs: &[usize], reason: impl Into<String>) -> Self {
        Error::ShapeMismatch { op, lhs: lhs.to_vec(), rhs: rhs.to_vec(), reason: reason.into() }
    }

    /// Builds an [`Error::InvalidArgument`].
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument { op, message: message.into() }
    }
}

/// Resolves a possibly negative axis (`-1` is the last) against `ndim` dimensions.
pub fn normalize_axis(op: &'static str, axis: isize, shape: &[usize]) -> Result<usize> {
    let ndim = shape.len() as isize;
    let resolved = if axis < 0 { axis + ndim } else { axis };
    if resolved < 0 || resolved >= ndim {
        return Err(Error::AxisOutOfRange { op, axis, shape: shape.to_vec() });
    }
    Ok(resolved as usize)
}
