//! # aigc-optim
//!
//! Optimizers, gradient clipping and learning-rate schedules for aigc, with
//! PyTorch's update rules, so a run here can be checked against one there.
//!
//! For a parameter `p` with gradient `g` (γ learning rate, λ weight decay):
//!
//! | optimizer | update |
//! | --- | --- |
//! | [`Sgd`] | `g ← g + λp`; `b ← μb + (1 − τ)g` (`b ← g` on the first step); `p ← p − γ(g + μb)` with Nesterov, else `p ← p − γb` |
//! | [`Adam`] | `g ← g + λp`; `m ← β1m + (1 − β1)g`; `v ← β2v + (1 − β2)g²`; `p ← p − γ·m̂/(√v̂ + eps)` |
//! | [`AdamW`] | `p ← p − γλp` (weights only by default); then Adam's update with λ = 0 |
//!
//! Here `m̂ = m/(1 − β1ᵗ)` and `v̂ = v/(1 − β2ᵗ)`, with `t` the number of
//! steps this parameter has taken. Every [`Optimizer`] keeps its buffers by
//! parameter name and saves them, with its hyperparameters, as an
//! [`OptimizerState`] that serde can write.
//!
//! [`clip_grad_norm`] rescales all gradients together to a maximum global L2
//! norm, and an [`LrSchedule`] such as [`WarmupCosine`] gives the learning
//! rate of each step.
//!
//! Minimising `(w − 3)²` with SGD: each step moves `w` by `−0.1 · 2(w − 3)`,
//! so the distance to 3 shrinks by a factor 0.8.
//!
//! ```
//! use aigc_autograd::{Tensor, Var};
//! use aigc_nn::{ParamKind, Parameter};
//! use aigc_optim::{Optimizer, Sgd};
//!
//! let w = Var::parameter(Tensor::from_vec(vec![0.0], &[1])?);
//! let params = vec![Parameter::new("w", w.clone(), ParamKind::Weight)];
//! let mut optimizer = Sgd::new(0.1);
//! for _ in 0..100 {
//!     w.zero_grad();
//!     let diff = w.add_scalar(-3.0);
//!     let loss = diff.mul(&diff)?.sum_all();
//!     loss.backward()?;
//!     optimizer.step(&params)?;
//! }
//! assert!((w.value().item()? - 3.0).abs() < 1e-4);
//! # Ok::<(), aigc_tensor::Error>(())
//! ```
#![warn(missing_docs)]

mod adam;
mod clip;
mod optimizer;
mod schedule;
mod sgd;
mod state;
mod update;

pub use adam::{Adam, AdamW};
pub use clip::{clip_grad_norm, grad_norm};
pub use optimizer::{optimizer_by_name, Optimizer, DEFAULT_ADAMW_WEIGHT_DECAY, OPTIMIZER_NAMES};
pub use schedule::{Constant, ExponentialDecay, LrSchedule, StepDecay, WarmupCosine};
pub use sgd::Sgd;
pub use state::{OptimizerState, SavedTensor};
