//! Layer normalisation over the last axis, as one fused operation.

use aigc_autograd::{Error, Result, Var};
use aigc_tensor::parallel::PARALLEL_THRESHOLD;
use aigc_tensor::Tensor;
use rayon::prelude::*;

use crate::module::{Module, ParamKind, Parameter};

/// Rows per parallel task of the backward pass.
const ROWS_PER_TASK: usize = 64;

/// Layer normalisation (Ba et al., 2016) over the last axis:
///
/// ```text
/// y = (x − mean(x)) / √(var(x) + eps) · γ + β
/// ```
///
/// with the biased variance, as PyTorch `nn.LayerNorm` computes it.
/// Shapes: x `(..., dim)` → y `(..., dim)`; γ (`weight`) and β (`bias`) are
/// `(dim,)`.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{LayerNorm, Module};
/// use aigc_tensor::Tensor;
/// let ln = LayerNorm::new(4, true);
/// let x = Var::new(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4])?);
/// let y = ln.forward(&x)?.value();
/// assert!(y.sum_all().item()?.abs() < 1e-5);          // each row has mean 0
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// The scale γ, `(dim,)`, initially ones.
    pub weight: Var,
    /// The shift β, `(dim,)`, initially zeros, if the layer has one.
    pub bias: Option<Var>,
    /// Added to the variance before the square root.
    pub eps: f32,
}

impl LayerNorm {
    /// Creates a layer over vectors of size `dim`, with γ = 1, β = 0 (if
    /// `bias`) and eps = 1e-5 (the PyTorch default).
    pub fn new(dim: usize, bias: bool) -> LayerNorm {
        LayerNorm {
            weight: Var::parameter(Tensor::ones(&[dim])),
            bias: bias.then(|| Var::parameter(Tensor::zeros(&[dim]))),
            eps: 1e-5,
        }
    }
}

impl Module for LayerNorm {
    /// Normalises each row of the last axis, then scales by γ and shifts by β.
    fn forward(&self, x: &Var) -> Result<Var> {
        layer_norm(x, &self.weight, self.bias.as_ref(), self.eps)
    }

    fn parameters(&self) -> Vec<Parameter> {
        let mut parameters = vec![Parameter::new("weight", self.weight.clone(), ParamKind::Norm)];
        if let Some(bias) = &self.bias {
            parameters.push(Parameter::new("bias", bias.clone(), ParamKind::Norm));
        }
        parameters
    }
}

/// Layer normalisation of `x` `(..., D)` over its last axis with scale
/// `weight` `(D,)` and optional shift `bias` `(D,)`, as one graph node.
///
/// Besides x, the forward pass saves only the per-row mean and 1/σ, and the
/// backward pass recomputes x̂ from them.
pub fn layer_norm(x: &Var, weight: &Var, bias: Option<&Var>, eps: f32) -> Result<Var> {
    let x_value = x.value().contiguous();
    let gamma = weight.value().contiguous();
    let beta = bias.map(|b| b.value().contiguous());
    check_shapes(x_value.shape(), gamma.shape(), beta.as_ref().map(|b| b.shape()))?;

    let dim = gamma.numel();
    let mut out = vec![0.0f32; x_value.numel()];
    let xs = x_value.as_slice().expect("contiguous");
    let (gamma_values, beta_values) =
        (gamma.as_slice().expect("contiguous"), beta.as_ref().map(|b| b.as_slice().expect("contiguous")));
    let normalise = |(row, y_row): (usize, &mut [f32])| {
        normalise_row(&xs[row * dim..(row + 1) * dim], y_row, gamma_values, beta_values, eps)
    };
    let statistics: Vec<(f32, f32)> = if dim == 0 {
        Vec::new()
    } else if out.len() >= PARALLEL_THRESHOLD {
        out.par_chunks_mut(dim).enumerate().map(normalise).collect()
    } else {
        out.chunks_mut(dim).enumerate().map(normalise).collect()
    };
    let (mean, rstd): (Vec<f32>, Vec<f32>) = statistics.into_iter().unzip();
    let value = Tensor::from_vec(out, x_value.shape())?;

    let needs = [x.requires_grad(), weight.requires_grad(), bias.is_some_and(|b| b.requires_grad())];
    let has_bias = bias.is_some();
    let mut parents = vec![x, weight];
    parents.extend(bias);
    // With x̂ = (x − μ)·rstd and ĝ = g·γ, per row of D elements:
    // ∂L/∂x = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ∂L/∂γ = Σ_rows g·x̂, ∂L/∂β = Σ_rows g
    Ok(Var::from_op("layer_norm", value, &parents, move |g| {
        let g = g.contiguous();
        let grads = layer_norm_backward(&x_value, &gamma, &mean, &rstd, &g, needs)?;
        let mut out = vec![grads.dx, grads.dgamma];
        if has_bias {
            out.push(grads.dbeta);
        }
        Ok(out)
    }))
}

/// Layer-normalises each row of `x` into the same row of `out`, with scale
/// `gamma` and optional shift `beta` (rows of `gamma.len()` elements): the
/// arithmetic of [`layer_norm`] on plain slices, for inference code without
/// a graph. Results equal `layer_norm`'s bit for bit.
///
/// Fails unless `x` and `out` have the same length, a whole number of rows,
/// and `beta` (if any) has `gamma`'s length.
pub fn layer_norm_rows(x: &[f32], gamma: &[f32], beta: Option<&[f32]>, eps: f32, out: &mut [f32]) -> Result<()> {
    let dim = gamma.len();
    let fits = x.len() == out.len() && (dim == 0 || x.len() % dim == 0) && beta.map_or(true, |b| b.len() == dim);
    if !fits {
        return Err(Error::shape(
            "layer_norm",
            &[x.len(), out.len()],
            &[dim, beta.map_or(dim, <[f32]>::len)],
            "x and out must have the same length, a whole number of rows of gamma's length, and beta must match gamma",
        ));
    }
    if dim > 0 {
        for (x_row, y_row) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            normalise_row(x_row, y_row, gamma, beta, eps);
        }
    }
    Ok(())
}

fn check_shapes(x: &[usize], gamma: &[usize], beta: Option<&[usize]>) -> Result<()> {
    if gamma.len() != 1 || x.last() != Some(&gamma[0]) {
        return Err(Error::shape(
            "layer_norm",
            x,
            gamma,
            "the input's last axis must equal the size of the 1-D weight",
        ));
    }
    if let Some(beta) = beta {
        if beta != gamma {
            return Err(Error::shape("layer_norm", gamma, beta, "the weight and the bias must have the same shape"));
        }
    }
    Ok(())
}

/// Writes the normalised, scaled and shifted `x_row` into `y_row`, and
/// returns the row's mean and 1/√(var + eps), with the biased variance
/// (divided by D).
fn normalise_row(x_row: &[f32], y_row: &mut [f32], gamma: &[f32], beta: Option<&[f32]>, eps: f32) -> (f32, f32) {
    let n = x_row.len() as f32;
    let mean = x_row.iter().sum::<f32>() / n;
    let variance = x_row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let rstd = 1.0 / (variance + eps).sqrt();
    for i in 0..x_row.len() {
        let shift = beta.map_or(0.0, |b| b[i]);
        y_row[i] = (x_row[i] - mean) * rstd * gamma[i] + shift;
    }
    (mean, rstd)
}

struct LayerNormGrads {
    dx: Option<Tensor>,
    dgamma: Option<Tensor>,
    dbeta: Option<Tensor>,
}

/// Computes the backward pass of [`layer_norm`] for those of (x, γ, β)
/// whose entry in `needs` is true.
fn layer_norm_backward(
    x: &Tensor,
    gamma: &Tensor,
    mean: &[f32],
    rstd: &[f32],
    g: &Tensor,
    needs: [bool; 3],
) -> Result<LayerNormGrads> {
    let dim = gamma.numel();
    let xs = x.as_slice().expect("contiguous");
    let gs = g.as_slice().expect("contiguous");
    let gamma_values = gamma.as_slice().expect("contiguous");
    let mut dx = vec![0.0f32; if needs[0] { xs.len() } else { 0 }];

    // Each task handles a block of rows: it writes their dx and returns its
    // partial sums of dγ and dβ, which are added up at the end.
    let rows_per_task = if xs.len() >= PARALLEL_THRESHOLD { ROWS_PER_TASK } else { mean.len().max(1) };
    let task = |first_row: usize, dx_block: &mut [f32]| -> (Vec<f32>, Vec<f32>) {
        let mut dgamma = vec![0.0f32; dim];
        let mut dbeta = vec![0.0f32; dim];
        let mut x_hat = vec![0.0f32; dim];
        let last_row = (first_row + rows_per_task).min(mean.len());
        for row in first_row..last_row {
            let x_row = &xs[row * dim..(row + 1) * dim];
            let g_row = &gs[row * dim..(row + 1) * dim];
            for i in 0..dim {
                x_hat[i] = (x_row[i] - mean[row]) * rstd[row];
                dgamma[i] += g_row[i] * x_hat[i];
                dbeta[i] += g_row[i];
            }
            if needs[0] {
                let (mut mean_g, mut mean_g_xhat) = (0.0f32, 0.0f32);
                for i in 0..dim {
                    let g_hat = g_row[i] * gamma_values[i];
                    mean_g += g_hat;
                    mean_g_xhat += g_hat * x_hat[i];
                }
                mean_g /= dim as f32;
                mean_g_xhat /= dim as f32;
                let dx_row = &mut dx_block[(row - first_row) * dim..(row - first_row + 1) * dim];
                for i in 0..dim {
                    let g_hat = g_row[i] * gamma_values[i];
                    dx_row[i] = rstd[row] * (g_hat - mean_g - x_hat[i] * mean_g_xhat);
                }
            }
        }
        (dgamma, dbeta)
    };
    let add = |(mut a_gamma, mut a_beta): (Vec<f32>, Vec<f32>), (b_gamma, b_beta): (Vec<f32>, Vec<f32>)| {
        a_gamma.iter_mut().zip(&b_gamma).for_each(|(a, b)| *a += b);
        a_beta.iter_mut().zip(&b_beta).for_each(|(a, b)| *a += b);
        (a_gamma, a_beta)
    };

    // The partial sums are collected in block order and added up in that
    // order: rayon's `reduce` would group them by how the work was split
    // between threads, and the rounding of dγ and dβ would then change from
    // run to run and with the number of threads.
    let partials: Vec<(Vec<f32>, Vec<f32>)> = if dim == 0 || mean.is_empty() {
        Vec::new()
    } else if needs[0] {
        dx.par_chunks_mut(rows_per_task * dim).enumerate().map(|(i, block)| task(i * rows_per_task, block)).collect()
    } else {
        (0..mean.len().div_ceil(rows_per_task)).into_par_iter().map(|i| task(i * rows_per_task, &mut [])).collect()
    };
    let (dgamma, dbeta) = partials.into_iter().fold((vec![0.0; dim], vec![0.0; dim]), add);

    Ok(LayerNormGrads {
        dx: if needs[0] { Some(Tensor::from_vec(dx, x.shape())?) } else { None },
        dgamma: if needs[1] { Some(Tensor::from_vec(dgamma, gamma.shape())?) } else { None },
        dbeta: if needs[2] { Some(Tensor::from_vec(dbeta, gamma.shape())?) } else { None },
    })
}
