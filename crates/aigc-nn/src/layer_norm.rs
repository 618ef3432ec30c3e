//! Layer normalisation over the last axis, as one fused operation.

use aigc_autograd::{Error, Result, Var};
use aigc_tensor::parallel::PARALLEL_THRESHOLD;
use aigc_tensor::{buffer, simd, Tensor};
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
/// use aigc_tensor::{simd, Tensor};
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
    let xs = x_value.as_slice().expect("contiguous");
    let (gamma_values, beta_values) =
        (gamma.as_slice().expect("contiguous"), beta.as_ref().map(|b| b.as_slice().expect("contiguous")));
    let normalise = |(block, y_block): (usize, &mut [f32])| {
        let start = block * ROWS_PER_TASK * dim;
        normalise_rows(&xs[start..start + y_block.len()], y_block, gamma_values, beta_values, eps)
    };
    let mut statistics: Vec<(f32, f32)> = Vec::new();
    // SAFETY: normalise_rows writes every element of each row and reads
    // none of y; with dim = 0 the output has no elements.
    let out = unsafe {
        buffer::written_by(xs.len(), |out| {
            if dim == 0 {
                // No elements to write.
            } else if out.len() >= PARALLEL_THRESHOLD {
                statistics = out.par_chunks_mut(ROWS_PER_TASK * dim).enumerate().flat_map_iter(normalise).collect();
            } else {
                statistics = normalise((0, out));
            }
        })
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
        normalise_rows(x, out, gamma, beta, eps);
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

/// Normalises each row of `x` (rows of `gamma.len()` elements) into `y`
/// and returns each row's mean and 1/√(var + eps), vectorised with AVX2
/// when the CPU has it.
fn normalise_rows(x: &[f32], y: &mut [f32], gamma: &[f32], beta: Option<&[f32]>, eps: f32) -> Vec<(f32, f32)> {
    #[inline(always)]
    fn body(x: &[f32], y: &mut [f32], gamma: &[f32], beta: Option<&[f32]>, eps: f32) -> Vec<(f32, f32)> {
        let dim = gamma.len();
        x.chunks_exact(dim).zip(y.chunks_exact_mut(dim)).map(|(x_row, y_row)| normalise_row(x_row, y_row, gamma, beta, eps)).collect()
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn body_avx2(x: &[f32], y: &mut [f32], gamma: &[f32], beta: Option<&[f32]>, eps: f32) -> Vec<(f32, f32)> {
        body(x, y, gamma, beta, eps)
    }
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { body_avx2(x, y, gamma, beta, eps) };
    }
    body(x, y, gamma, beta, eps)
}

#[inline(always)]
fn sum_f64(x: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut partial = [0.0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for chunk in &mut chunks {
        for lane in 0..8 {
            partial[lane] += f(chunk[lane] as f64);
        }
    }
    for (lane, &v) in chunks.remainder().iter().enumerate() {
        partial[lane] += f(v as f64);
    }
    ((partial[0] + partial[4]) + (partial[2] + partial[6])) + ((partial[1] + partial[5]) + (partial[3] + partial[7]))
}

/// Writes the normalised, scaled and shifted `x_row` into `y_row`, and
/// returns the row's mean and 1/√(var + eps), with the biased variance
/// (divided by D). The sums use the fixed-order partial sums of
/// [`simd::sum`], so the result does not depend on the CPU features.
#[inline(always)]
fn normalise_row(x_row: &[f32], y_row: &mut [f32], gamma: &[f32], beta: Option<&[f32]>, eps: f32) -> (f32, f32) {
    let n = x_row.len() as f32;
    let mean = sum_f64(x_row, |v| v) / n as f64;
    let variance = sum_f64(x_row, |v| (v - mean) * (v - mean)) / n as f64;
    let (mean, variance) = (mean as f32, variance as f32);
    let rstd = 1.0 / (variance + eps).sqrt();
    match beta {
        Some(beta) => {
            for (((y, &x), &g), &b) in y_row.iter_mut().zip(x_row).zip(gamma).zip(beta) {
                *y = (x - mean) * rstd * g + b;
            }
        }
        None => {
            for ((y, &x), &g) in y_row.iter_mut().zip(x_row).zip(gamma) {
                *y = (x - mean) * rstd * g;
            }
        }
    }
    (mean, rstd)
}

/// The inputs of the backward pass, read row by row.
struct BackwardRows<'a> {
    xs: &'a [f32],
    gs: &'a [f32],
    gamma: &'a [f32],
    mean: &'a [f32],
    rstd: &'a [f32],
    need_dx: bool,
}

impl BackwardRows<'_> {
    /// Writes dx of `rows` into `dx_block` (when needed) and returns their
    /// sums of dγ and dβ; vectorised with AVX2 when the CPU has it.
    fn run(&self, rows: std::ops::Range<usize>, dx_block: &mut [f32]) -> (Vec<f32>, Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn run_avx2(inputs: &BackwardRows, rows: std::ops::Range<usize>, dx_block: &mut [f32]) -> (Vec<f32>, Vec<f32>) {
            inputs.body(rows, dx_block)
        }
        #[cfg(target_arch = "x86_64")]
        if simd::avx2_fma_available() {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { run_avx2(self, rows, dx_block) };
        }
        self.body(rows, dx_block)
    }

    #[inline(always)]
    fn body(&self, rows: std::ops::Range<usize>, dx_block: &mut [f32]) -> (Vec<f32>, Vec<f32>) {
        let dim = self.gamma.len();
        let mut dgamma = vec![0.0f32; dim];
        let mut dbeta = vec![0.0f32; dim];
        let mut x_hat = vec![0.0f32; dim];
        let first_row = rows.start;
        for row in rows {
            let (mean, rstd) = (self.mean[row], self.rstd[row]);
            let x_row = &self.xs[row * dim..(row + 1) * dim];
            let g_row = &self.gs[row * dim..(row + 1) * dim];
            for ((((h, &x), &g), dg), db) in x_hat.iter_mut().zip(x_row).zip(g_row).zip(&mut dgamma).zip(&mut dbeta) {
                *h = (x - mean) * rstd;
                *dg += g * *h;
                *db += g;
            }
            if self.need_dx {
                let mean_g = simd::dot(g_row, self.gamma) / dim as f32;
                let mean_g_xhat = simd::sum_map3(g_row, self.gamma, &x_hat, |g, gamma, h| g * gamma * h) / dim as f32;
                let dx_row = &mut dx_block[(row - first_row) * dim..(row - first_row + 1) * dim];
                for (((dx, &g), &gamma), &h) in dx_row.iter_mut().zip(g_row).zip(self.gamma).zip(&x_hat) {
                    *dx = rstd * (g * gamma - mean_g - h * mean_g_xhat);
                }
            }
        }
        (dgamma, dbeta)
    }
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

    // Each task handles a block of rows: it writes their dx and returns its
    // partial sums of dγ and dβ, which are added up at the end.
    let rows_per_task = if xs.len() >= PARALLEL_THRESHOLD { ROWS_PER_TASK } else { mean.len().max(1) };
    let inputs = BackwardRows { xs, gs, gamma: gamma_values, mean, rstd, need_dx: needs[0] };
    let task = |first_row: usize, dx_block: &mut [f32]| -> (Vec<f32>, Vec<f32>) {
        let last_row = (first_row + rows_per_task).min(mean.len());
        inputs.run(first_row..last_row, dx_block)
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
    let mut partials: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    // SAFETY: with need_dx, BackwardRows::run writes every element of each
    // row of dx and reads none; with no rows or dim = 0, dx has no elements.
    let dx = unsafe {
        buffer::written_by(if needs[0] { xs.len() } else { 0 }, |dx| {
            if dim == 0 || mean.is_empty() {
                // No rows: no partial sums.
            } else if needs[0] {
                partials = dx.par_chunks_mut(rows_per_task * dim).enumerate().map(|(i, block)| task(i * rows_per_task, block)).collect();
            } else {
                partials = (0..mean.len().div_ceil(rows_per_task)).into_par_iter().map(|i| task(i * rows_per_task, &mut [])).collect();
            }
        })
    };
    let (dgamma, dbeta) = partials.into_iter().fold((vec![0.0; dim], vec![0.0; dim]), add);

    Ok(LayerNormGrads {
        dx: if needs[0] { Some(Tensor::from_vec(dx, x.shape())?) } else { None },
        dgamma: if needs[1] { Some(Tensor::from_vec(dgamma, gamma.shape())?) } else { None },
        dbeta: if needs[2] { Some(Tensor::from_vec(dbeta, gamma.shape())?) } else { None },
    })
}
