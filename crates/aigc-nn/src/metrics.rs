//! Evaluation metrics. They read plain tensors (no graph) and return numbers.

use aigc_autograd::{Error, Result};
use aigc_tensor::Tensor;

use crate::loss::class_ids;
use crate::rows::{map_rows, unravel};

/// Returns the fraction of rows whose largest logit is at the target class.
///
/// `logits` is `(..., C)`. `targets` is either class ids with shape `(...)`
/// or distributions (one-hot or probabilities) with shape `(..., C)`, whose
/// argmax is the class. Ties go to the first index. Zero rows give 0.
///
/// Fails on any other target shape, or on an id that is not an integer in `0..C`.
///
/// ```
/// use aigc_nn::metrics::accuracy;
/// use aigc_tensor::Tensor;
/// let logits = Tensor::from_vec(vec![0.9, 0.1, 0.2, 0.8, 0.7, 0.3], &[3, 2])?;
/// let ids = Tensor::from_vec(vec![0.0, 1.0, 1.0], &[3])?;
/// assert!((accuracy(&logits, &ids)? - 2.0 / 3.0).abs() < 1e-6);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub fn accuracy(logits: &Tensor, targets: &Tensor) -> Result<f32> {
    const OP: &str = "accuracy";
    let (rows, classes) = class_axis(OP, logits, targets)?;
    let predicted = argmax_rows(logits, rows, classes);
    let expected: Vec<Option<usize>> = if targets.shape() == logits.shape() {
        argmax_rows(targets, rows, classes).into_iter().map(Some).collect()
    } else if targets.shape() == &logits.shape()[..logits.ndim() - 1] {
        let ids = class_ids(OP, targets, classes)?;
        if let Some(flat) = ids.iter().position(Option::is_none) {
            return Err(Error::invalid(
                OP,
                format!(
                    "target -1 at position {:?} is not a class id in 0..{classes}; use sparse_categorical_accuracy to ignore positions",
                    unravel(flat, targets.shape())
                ),
            ));
        }
        ids
    } else {
        return Err(Error::shape(
            OP,
            logits.shape(),
            targets.shape(),
            "the targets must be either distributions with the logits' shape (..., C) \
             or class ids with the logits' shape without the last axis (...)",
        ));
    };
    Ok(fraction_correct(&predicted, &expected))
}

/// Returns the fraction of counted rows whose largest logit is at the target id.
///
/// `logits` is `(..., C)` and `ids` `(...)`. Rows whose id is −1 are not
/// counted, as in [`crate::loss::sparse_categorical_crossentropy`]. When no
/// row is counted the result is 0.
///
/// Fails when the shapes do not fit or an id is neither −1 nor an integer in `0..C`.
pub fn sparse_categorical_accuracy(logits: &Tensor, ids: &Tensor) -> Result<f32> {
    const OP: &str = "sparse_categorical_accuracy";
    let (rows, classes) = class_axis(OP, logits, ids)?;
    if ids.shape() != &logits.shape()[..logits.ndim() - 1] {
        return Err(Error::shape(
            OP,
            logits.shape(),
            ids.shape(),
            "the ids must have the logits' shape without the last (class) axis",
        ));
    }
    let expected = class_ids(OP, ids, classes)?;
    let predicted = argmax_rows(logits, rows, classes);
    Ok(fraction_correct(&predicted, &expected))
}

/// Returns the perplexity `exp(H)` of a mean cross-entropy H in nats: the
/// number of equally likely choices that would give the same loss.
///
/// ```
/// assert!((aigc_nn::metrics::perplexity(4f32.ln()) - 4.0).abs() < 1e-5);
/// ```
pub fn perplexity(mean_cross_entropy: f32) -> f32 {
    mean_cross_entropy.exp()
}

fn class_axis(op: &'static str, logits: &Tensor, targets: &Tensor) -> Result<(usize, usize)> {
    match logits.shape().split_last() {
        Some((&classes, leading)) if classes > 0 => Ok((leading.iter().product(), classes)),
        _ => Err(Error::shape(
            op,
            logits.shape(),
            targets.shape(),
            "the logits need a non-empty last axis of classes (..., C)",
        )),
    }
}

/// Returns the index of the largest value of each row. The first wins ties.
fn argmax_rows(values: &Tensor, rows: usize, classes: usize) -> Vec<usize> {
    let values = values.contiguous();
    map_rows(values.as_slice().expect("contiguous"), rows, classes, |_, row| {
        let mut best = 0;
        for (i, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = i;
            }
        }
        best
    })
}

fn fraction_correct(predicted: &[usize], expected: &[Option<usize>]) -> f32 {
    let mut counted = 0usize;
    let mut correct = 0usize;
    for (p, e) in predicted.iter().zip(expected) {
        if let Some(e) = e {
            counted += 1;
            correct += usize::from(p == e);
        }
    }
    if counted == 0 {
        0.0
    } else {
        correct as f32 / counted as f32
    }
}
