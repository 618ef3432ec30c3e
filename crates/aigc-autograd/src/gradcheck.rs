//! Checks backward passes against central finite differences.
//!
//! For inputs x and a function f, gradcheck reduces the output to a scalar
//! L = Σ w ⊙ f(x) with fixed random weights w (so every output element
//! counts, each differently), back-propagates, and compares each ∂L/∂xᵢ with
//!
//! ```text
//! (L(x + ε·eᵢ) - L(x - ε·eᵢ)) / 2ε
//! ```
//!
//! Forward passes run in f32, so ε is not tiny: the default 1e-2 keeps the
//! truncation error (order ε²) and the rounding error (order 1e-7/ε) both
//! near 1e-4 for smooth functions of O(1) inputs.

use aigc_tensor::{Error, Result, Rng, Tensor};

use crate::{no_grad, Var};

/// Step and tolerances for [`gradcheck`]. An element passes when
/// `|analytic - numeric| <= atol + rtol·|numeric|`.
#[derive(Debug, Clone, Copy)]
pub struct GradcheckOptions {
    /// Finite-difference step ε.
    pub eps: f32,
    /// Absolute tolerance.
    pub atol: f32,
    /// Relative tolerance.
    pub rtol: f32,
    /// Seed of the random output weights.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-2, atol: 1e-3, rtol: 1e-2, seed: 0 }
    }
}

/// The outcome of [`gradcheck`]: the worst disagreement per input.
#[derive(Debug, Clone)]
pub struct GradcheckReport {
    /// For each input, the largest `|analytic - numeric|`.
    pub max_abs_error: Vec<f32>,
    /// For each input, the flat index where that largest error occurred.
    pub worst_index: Vec<usize>,
}

/// Compares the backward pass of `f` with central finite differences at `inputs`.
///
/// Returns the report when every element agrees within the tolerances, and
/// an error naming the input, the element, both values and the tolerance
/// otherwise.
///
/// ```
/// use aigc_autograd::{gradcheck, GradcheckOptions};
/// use aigc_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.5, -1.0, 2.0], &[3])?;
/// gradcheck(|v| Ok(v[0].tanh()), &[x], GradcheckOptions::default())?;
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub fn gradcheck(
    f: impl Fn(&[Var]) -> Result<Var>,
    inputs: &[Tensor],
    options: GradcheckOptions,
) -> Result<GradcheckReport> {
    // Analytic gradients of L = Σ w ⊙ f(x).
    let vars: Vec<Var> = inputs.iter().map(|t| Var::parameter(t.contiguous())).collect();
    let output = f(&vars)?;
    let mut rng = Rng::seed(options.seed);
    let weights = Tensor::rand_uniform(&output.shape(), 0.5, 1.5, &mut rng);
    let loss = output.mul(&Var::new(weights.clone()))?.sum_all();
    loss.backward()?;

    let scalar_loss = |values: &[Tensor]| -> Result<f64> {
        no_grad(|| {
            let vars: Vec<Var> = values.iter().map(|t| Var::new(t.clone())).collect();
            let out = f(&vars)?.value();
            let weighted = out.mul(&weights)?;
            Ok(weighted.to_vec().iter().map(|&v| v as f64).sum())
        })
    };

    let mut report = GradcheckReport { max_abs_error: Vec::new(), worst_index: Vec::new() };
    for (input_index, var) in vars.iter().enumerate() {
        let analytic = var.grad().unwrap_or_else(|| Tensor::zeros(inputs[input_index].shape())).to_vec();
        let mut values: Vec<Tensor> = inputs.iter().map(|t| t.contiguous()).collect();
        let (mut worst, mut worst_index) = (0.0f32, 0usize);
        for (element, &analytic_value) in analytic.iter().enumerate() {
            let original = values[input_index].as_slice().expect("contiguous")[element];
            values[input_index].as_slice_mut()[element] = original + options.eps;
            let plus = scalar_loss(&values)?;
            values[input_index].as_slice_mut()[element] = original - options.eps;
            let minus = scalar_loss(&values)?;
            values[input_index].as_slice_mut()[element] = original;

            let numeric = ((plus - minus) / (2.0 * options.eps as f64)) as f32;
            let error = (analytic_value - numeric).abs();
            if error > worst || error.is_nan() {
                worst = error;
                worst_index = element;
            }
            if error.is_nan() || error > options.atol + options.rtol * numeric.abs() {
                return Err(Error::invalid(
                    "gradcheck",
                    format!(
                        "input {input_index} (shape {:?}), element {element}: backward gives {}, finite differences give {numeric} (tolerance {} + {}·|numeric|)",
                        inputs[input_index].shape(),
                        analytic_value,
                        options.atol,
                        options.rtol
                    ),
                ));
            }
        }
        report.max_abs_error.push(worst);
        report.worst_index.push(worst_index);
    }
    Ok(report)
}
