//! # aigc-autograd
//!
//! Define-by-run reverse-mode automatic differentiation over
//! [`aigc_tensor::Tensor`].
//!
//! A [`Var`] records the operation that produced it. Calling
//! [`Var::backward`] on a scalar walks the graph in reverse topological
//! order and accumulates `∂output/∂leaf` into [`Var::grad`] of every leaf
//! made with [`Var::parameter`]. [`no_grad`] turns recording off for
//! inference, and [`Var::detach`] cuts the graph.
//!
//! Each operation's backward sits beside its forward in `ops/`, and
//! [`gradcheck`] compares any backward with central finite differences.
//! Higher crates add fused operations the same way, with [`Var::from_op`].
//!
//! ```
//! use aigc_autograd::Var;
//! use aigc_tensor::Tensor;
//! let x = Var::parameter(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
//! let y = x.mul(&x)?.sum_all();           // y = Σ x², used twice: gradients add
//! y.backward()?;
//! assert_eq!(x.grad().unwrap().to_vec(), vec![2.0, 4.0]);
//! # Ok::<(), aigc_tensor::Error>(())
//! ```
#![warn(missing_docs)]

mod backward;
mod gradcheck;
mod mode;
mod ops;
mod var;

pub use aigc_tensor::{Error, Result, Tensor};
pub use gradcheck::{gradcheck, GradcheckOptions, GradcheckReport};
pub use mode::{is_grad_enabled, no_grad, NoGradGuard};
pub use var::{BackwardFn, Var};
