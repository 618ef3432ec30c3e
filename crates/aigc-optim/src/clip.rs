//! Gradient clipping by global L2 norm, following `torch.nn.utils.clip_grad_norm_`.

use std::collections::HashSet;

use aigc_autograd::{Error, Result};
use aigc_nn::Parameter;

use crate::update::sum_of_squares;

/// The L2 norm of all gradients together, `√(Σ g²)` over every element of
/// every parameter that has a gradient, accumulated in `f64`.
///
/// A `Var` listed twice (tied weights) counts once. Returns 0 when no
/// parameter has a gradient, and NaN or infinity when a gradient contains one.
pub fn grad_norm(params: &[Parameter]) -> f32 {
    let mut seen = HashSet::new();
    let mut total = 0.0f64;
    for param in params {
        if !seen.insert(param.var.id()) {
            continue;
        }
        if let Some(grad) = param.var.grad() {
            let grad = grad.contiguous();
            total += sum_of_squares(grad.as_slice().expect("made contiguous above"));
        }
    }
    total.sqrt() as f32
}

/// Scales all gradients together so that their global L2 norm is at most
/// `max_norm`, and returns the norm from before clipping.
///
/// With `norm` from [`grad_norm`], every gradient is multiplied by
/// `max_norm / (norm + 1e-6)` when that factor is below 1, as PyTorch
/// does. Otherwise the gradients are left as they are. A NaN or
/// infinite norm is returned without scaling anything, so the caller can
/// report it and skip the step. `max_norm = f32::INFINITY` measures the
/// norm without clipping.
///
/// Fails when `max_norm` is zero, negative or NaN.
///
/// ```
/// use aigc_autograd::{Tensor, Var};
/// use aigc_nn::{ParamKind, Parameter};
/// use aigc_optim::clip_grad_norm;
/// let w = Var::parameter(Tensor::zeros(&[2]));
/// w.set_grad(Some(Tensor::from_vec(vec![3.0, 4.0], &[2])?));
/// let params = [Parameter::new("w", w.clone(), ParamKind::Weight)];
/// let norm = clip_grad_norm(&params, 1.0)?;
/// assert_eq!(norm, 5.0);                                   // √(3² + 4²), before clipping
/// let clipped = w.grad().unwrap().to_vec();                // (3, 4)·1/(5 + 1e-6)
/// assert!((clipped[0] - 0.6).abs() < 1e-6 && (clipped[1] - 0.8).abs() < 1e-6);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub fn clip_grad_norm(params: &[Parameter], max_norm: f32) -> Result<f32> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        return Err(Error::invalid("clip_grad_norm", format!("invalid max_norm {max_norm}; expected a value > 0")));
    }
    let norm = grad_norm(params);
    if !norm.is_finite() {
        return Ok(norm);
    }

    let scale = f64::from(max_norm) / (f64::from(norm) + 1e-6);
    if scale >= 1.0 {
        return Ok(norm);
    }
    let scale = scale as f32;
    let mut seen = HashSet::new();
    for param in params {
        if !seen.insert(param.var.id()) {
            continue;
        }
        if let Some(mut grad) = param.var.grad() {
            // Release the stored gradient first, so `grad` is the only owner
            // and `map_inplace` scales it without a copy.
            param.var.set_grad(None);
            grad.map_inplace(|g| g * scale);
            param.var.set_grad(Some(grad));
        }
    }
    Ok(norm)
}
