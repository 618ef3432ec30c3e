//! # aigc-tensor
//!
//! N-dimensional `f32` tensors for aigc, built on [`ndarray`].
//!
//! * [`Tensor`]: shared, copy-on-write storage; permute, transpose, narrow,
//!   split, squeeze and unsqueeze are views. `broadcast_to` copies.
//! * Element-wise arithmetic broadcasts as NumPy does; reductions take an
//!   axis (negative counts from the end) and `keepdim`.
//! * [`Tensor::matmul`] multiplies 2-D and batched operands through the
//!   [`gemm`] module, whose kernel is chosen at run time.
//! * [`Rng`] makes every random draw reproducible from a seed.
//!
//! Error convention: operations whose inputs can disagree return
//! [`Result`], and the [`Error`] names the operation and the shapes or values
//! involved. Operations that cannot fail return their value directly.
//!
//! ```
//! use aigc_tensor::Tensor;
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
//! let probs = x.softmax(-1)?;                 // each row sums to 1
//! let row_sums = probs.sum(-1, false)?;
//! assert!(row_sums.allclose(&Tensor::ones(&[2]), 1e-6, 1e-6));
//! let bad = x.matmul(&x);                      // (2, 3) · (2, 3): inner sizes differ
//! assert!(bad.unwrap_err().to_string().contains("[2, 3] and [2, 3]"));
//! # Ok::<(), aigc_tensor::Error>(())
//! ```
#![warn(missing_docs)]

mod broadcast;
pub mod buffer;
mod elementwise;
mod error;
pub mod gemm;
mod index;
mod matmul;
pub mod packed;
pub mod parallel;
mod reduce;
mod rng;
pub mod simd;
mod shape_ops;
mod softmax;
mod tensor;
mod unary;

pub use broadcast::broadcast_shape;
pub use error::{normalize_axis, Error, Result};
pub use index::ids_to_indices;
pub use rng::Rng;
pub use softmax::{log_softmax_row, softmax_row};
pub use tensor::Tensor;
pub use unary::{gelu_grad_scalar, gelu_scalar};
