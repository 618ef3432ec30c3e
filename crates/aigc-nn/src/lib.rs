//! # aigc-nn
//!
//! Layers, attention kernels, losses and metrics for aigc.
#![warn(missing_docs)]

mod module;

pub use module::{prefix_parameters, Module, ParamKind, Parameter};
