//! Losses. The classification losses take logits (unnormalised scores), so a
//! model ends in a linear layer, not a softmax. Each fuses log-softmax and the
//! negative log-likelihood into one graph node. Every loss returns a 0-d
//! [`Var`], the mean over the positions it counts.
//!
//! | aigc | PyTorch | Keras |
//! | --- | --- | --- |
//! | [`sparse_categorical_crossentropy`] | `F.cross_entropy(logits, ids, ignore_index=-1)` | `SparseCategoricalCrossentropy(from_logits=True)` |
//! | [`categorical_crossentropy`] | `F.cross_entropy(logits, probs)` | `CategoricalCrossentropy(from_logits=True)` |
//! | [`mse`] | `F.mse_loss` | `MeanSquaredError` |

use aigc_autograd::{Error, Result, Var};
use aigc_tensor::Tensor;

use crate::rows::{exp_shifted_scaled_into, fill_rows, log_sum_exp, map_rows, unravel};

/// The target id that marks a position the loss ignores, such as a prompt
/// token that the model should not be trained to produce.
pub const IGNORE_INDEX: f32 = -1.0;

/// Mean cross-entropy of `logits` `(..., C)` against class ids `targets`
/// `(...)`:
///
/// ```text
/// loss = (1/N) Σ_rows (log Σⱼ exp(xⱼ) − x_target)
/// ∂loss/∂x = (softmax(x) − onehot(target)) / N
/// ```
///
/// where N counts the rows whose target is not [`IGNORE_INDEX`] (−1).
/// Ignored rows add nothing to the loss and get a zero gradient; when every
/// row is ignored the loss is 0, not NaN.
///
/// Fails when `targets` does not have the shape of `logits` without its last
/// axis, or when a target is neither −1 nor an integer in `0..C`. The error
/// names the position and the value.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::loss::sparse_categorical_crossentropy;
/// use aigc_tensor::Tensor;
/// let logits = Var::parameter(Tensor::zeros(&[2, 3, 4]));                // (B, T, V)
/// let targets = Tensor::from_vec(vec![0.0, 3.0, -1.0, 1.0, -1.0, 2.0], &[2, 3])?;
/// let loss = sparse_categorical_crossentropy(&logits, &targets)?;
/// assert!((loss.value().item()? - 4f32.ln()).abs() < 1e-6);             // uniform over 4 classes
/// loss.backward()?;
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub fn sparse_categorical_crossentropy(logits: &Var, targets: &Tensor) -> Result<Var> {
    const OP: &str = "sparse_categorical_crossentropy";
    let x = logits.value().contiguous();
    let (rows, classes) = class_axis(OP, x.shape(), targets.shape())?;
    if targets.shape() != &x.shape()[..x.ndim() - 1] {
        return Err(Error::shape(
            OP,
            x.shape(),
            targets.shape(),
            "the targets must have the logits' shape without the last (class) axis",
        ));
    }
    let target_ids = class_ids(OP, targets, classes)?;

    // Forward: one pass per row computes log Σ exp and the row's loss.
    let xs = x.as_slice().expect("contiguous");
    let per_row = map_rows(xs, rows, classes, |row, values| match target_ids[row] {
        Some(target) => {
            let lse = log_sum_exp(values);
            (lse, (lse - values[target]) as f64)
        }
        None => (0.0, 0.0),
    });
    let count = target_ids.iter().filter(|t| t.is_some()).count();
    let total: f64 = per_row.iter().map(|&(_, loss)| loss).sum();
    let loss = if count == 0 { 0.0 } else { (total / count as f64) as f32 };
    let lse: Vec<f32> = per_row.into_iter().map(|(lse, _)| lse).collect();

    // ∂loss/∂x = (softmax(x) − onehot(target)) / N on counted rows, 0 on ignored rows
    Ok(Var::from_op(OP, Tensor::scalar(loss), &[logits], move |g| {
        let scale = if count == 0 { 0.0 } else { g.item()? / count as f32 };
        let xs = x.as_slice().expect("contiguous");
        let mut grad = vec![0.0f32; xs.len()];
        fill_rows(&mut grad, classes, |row, out| {
            let Some(target) = target_ids[row] else { return };
            let values = &xs[row * classes..(row + 1) * classes];
            exp_shifted_scaled_into(out, values, lse[row], scale);
            out[target] -= scale;
        });
        Ok(vec![Some(Tensor::from_vec(grad, x.shape())?)])
    }))
}

/// Mean cross-entropy of `logits` `(..., C)` against `targets` in either of
/// two forms:
///
/// * the same shape as `logits`: a distribution per row (one-hot or
///   probabilities), and `loss = −(1/N) Σ_rows Σⱼ tⱼ·log_softmax(x)ⱼ` over all
///   N rows, with `∂loss/∂x = (softmax(x)·Σⱼ tⱼ − t) / N`;
/// * the shape of `logits` without the last axis: class ids, handled by
///   [`sparse_categorical_crossentropy`] (including ignored −1 targets).
///
/// Fails on any other shape, naming both shapes.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::loss::categorical_crossentropy;
/// use aigc_tensor::Tensor;
/// let logits = Var::parameter(Tensor::from_vec(vec![2.0, 0.0, 0.0, 1.0], &[2, 2])?);
/// let one_hot = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2])?;
/// let ids = Tensor::from_vec(vec![0.0, 1.0], &[2])?;
/// let a = categorical_crossentropy(&logits, &one_hot)?.value().item()?;
/// let b = categorical_crossentropy(&logits, &ids)?.value().item()?;
/// assert!((a - b).abs() < 1e-6);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub fn categorical_crossentropy(logits: &Var, targets: &Tensor) -> Result<Var> {
    const OP: &str = "categorical_crossentropy";
    let shape = logits.shape();
    if targets.shape() == shape.as_slice() && !shape.is_empty() {
        return distribution_crossentropy(logits, targets);
    }
    if shape.split_last().is_some_and(|(_, leading)| leading == targets.shape()) {
        return sparse_categorical_crossentropy(logits, targets);
    }
    Err(Error::shape(
        OP,
        &shape,
        targets.shape(),
        "the targets must be either distributions with the logits' shape (..., C) \
         or class ids with the logits' shape without the last axis (...)",
    ))
}

/// Computes the distribution form of [`categorical_crossentropy`], whose
/// shapes the caller has checked to be equal.
fn distribution_crossentropy(logits: &Var, targets: &Tensor) -> Result<Var> {
    const OP: &str = "categorical_crossentropy";
    let x = logits.value().contiguous();
    let t = targets.contiguous();
    let (rows, classes) = class_axis(OP, x.shape(), t.shape())?;

    // Forward: per row, Σⱼ tⱼ·(lse − xⱼ). Terms with tⱼ = 0 are skipped, so a
    // masked logit (−∞) with zero target weight adds 0, not NaN.
    let xs = x.as_slice().expect("contiguous");
    let ts = t.as_slice().expect("contiguous");
    let per_row = map_rows(xs, rows, classes, |row, values| {
        let lse = log_sum_exp(values);
        let weights = &ts[row * classes..(row + 1) * classes];
        let loss: f64 =
            values.iter().zip(weights).filter(|(_, &w)| w != 0.0).map(|(&v, &w)| (w * (lse - v)) as f64).sum();
        (lse, loss)
    });
    let total: f64 = per_row.iter().map(|&(_, loss)| loss).sum();
    let loss = if rows == 0 { 0.0 } else { (total / rows as f64) as f32 };
    let lse: Vec<f32> = per_row.into_iter().map(|(lse, _)| lse).collect();

    // ∂loss/∂xⱼ = (softmax(x)ⱼ·Σₖ tₖ − tⱼ) / N
    Ok(Var::from_op(OP, Tensor::scalar(loss), &[logits], move |g| {
        let scale = if rows == 0 { 0.0 } else { g.item()? / rows as f32 };
        let xs = x.as_slice().expect("contiguous");
        let ts = t.as_slice().expect("contiguous");
        let mut grad = vec![0.0f32; xs.len()];
        fill_rows(&mut grad, classes, |row, out| {
            let range = row * classes..(row + 1) * classes;
            let (values, weights) = (&xs[range.clone()], &ts[range]);
            let mass: f32 = weights.iter().sum();
            for ((o, &v), &w) in out.iter_mut().zip(values).zip(weights) {
                *o = ((v - lse[row]).exp() * mass - w) * scale;
            }
        });
        Ok(vec![Some(Tensor::from_vec(grad, x.shape())?)])
    }))
}

/// Mean squared error, `(1/n) Σ (p − t)²` over all n elements, with
/// `∂loss/∂p = 2(p − t)/n`. An empty input gives 0.
///
/// Fails unless `predictions` and `targets` have the same shape.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::loss::mse;
/// use aigc_tensor::Tensor;
/// let p = Var::parameter(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
/// let t = Tensor::from_vec(vec![0.0, 4.0], &[2])?;
/// assert_eq!(mse(&p, &t)?.value().item()?, 2.5);   // (1 + 4) / 2
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub fn mse(predictions: &Var, targets: &Tensor) -> Result<Var> {
    let p = predictions.value().contiguous();
    if p.shape() != targets.shape() {
        return Err(Error::shape(
            "mse",
            p.shape(),
            targets.shape(),
            "predictions and targets must have the same shape",
        ));
    }
    let t = targets.contiguous();
    let count = p.numel();
    let difference = p.sub(&t)?;
    let total = difference.sum_squares();
    let loss = if count == 0 { 0.0 } else { (total / count as f64) as f32 };

    // ∂loss/∂p = 2(p − t)/n
    Ok(Var::from_op("mse", Tensor::scalar(loss), &[predictions], move |g| {
        let scale = if count == 0 { 0.0 } else { 2.0 * g.item()? / count as f32 };
        Ok(vec![Some(difference.mul_scalar(scale))])
    }))
}

/// Checks that `logits` has a class axis and returns (rows, classes).
fn class_axis(op: &'static str, logits: &[usize], targets: &[usize]) -> Result<(usize, usize)> {
    match logits.split_last() {
        Some((&classes, leading)) => Ok((leading.iter().product(), classes)),
        None => Err(Error::shape(op, logits, targets, "the logits need a last axis of classes (..., C)")),
    }
}

/// Reads class ids in `0..classes`, with [`IGNORE_INDEX`] as `None`.
pub(crate) fn class_ids(op: &'static str, targets: &Tensor, classes: usize) -> Result<Vec<Option<usize>>> {
    let values = targets.to_vec();
    let mut ids = Vec::with_capacity(values.len());
    for (flat, &value) in values.iter().enumerate() {
        if value == IGNORE_INDEX {
            ids.push(None);
        } else if value >= 0.0 && value.fract() == 0.0 && (value as usize) < classes {
            ids.push(Some(value as usize));
        } else {
            return Err(Error::invalid(
                op,
                format!(
                    "target {value} at position {:?} is not a class id in 0..{classes}; use {IGNORE_INDEX} to ignore a position",
                    unravel(flat, targets.shape())
                ),
            ));
        }
    }
    Ok(ids)
}
