//! `evaluate()` and `predict()`: the model on data, without gradients.

use aigc_autograd::{NoGradGuard, Tensor, Var};
use aigc_nn::Module;

use crate::batches::{batch_ranges, check_batch_size, check_xy};
use crate::error::{Result, TrainError};
use crate::model::Model;
use crate::running::RunningMetrics;

/// The batch size of [`Model::evaluate`].
pub const DEFAULT_EVAL_BATCH_SIZE: usize = 256;

/// The loss and every compiled metric over a data set, from
/// [`Model::evaluate_all`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// The mean loss.
    pub loss: f32,
    /// Each compiled metric by name, in the order given to `compile`.
    pub metrics: Vec<(String, f32)>,
}

impl Evaluation {
    /// Returns the metric called `name`, or the loss for `"loss"`.
    pub fn get(&self, name: &str) -> Option<f32> {
        if name == "loss" {
            return Some(self.loss);
        }
        self.metrics.iter().find(|(key, _)| key == name).map(|(_, value)| *value)
    }
}

impl<N: Module> Model<N> {
    /// Computes the loss and the first compiled metric on `(x, y)`, in
    /// batches of [`DEFAULT_EVAL_BATCH_SIZE`]. The metric is NaN when none
    /// was compiled.
    ///
    /// Fails before `compile`, when `x` and `y` differ in length or are
    /// empty, or when their shapes do not fit the model.
    pub fn evaluate(&self, x: &Tensor, y: &Tensor) -> Result<(f32, f32)> {
        let evaluation = self.evaluate_all(x, y, DEFAULT_EVAL_BATCH_SIZE)?;
        let first_metric = evaluation.metrics.first().map_or(f32::NAN, |(_, value)| *value);
        Ok((evaluation.loss, first_metric))
    }

    /// Computes the loss and every compiled metric on `(x, y)`, in batches of
    /// `batch_size` rows, without recording gradients.
    ///
    /// Each value is the mean over batches weighted by their rows.
    pub fn evaluate_all(&self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<Evaluation> {
        const OP: &str = "evaluate";
        self.compiled(OP)?;
        check_batch_size(OP, batch_size)?;
        let rows = check_xy(OP, x, y)?;
        let batches =
            batch_ranges(rows, batch_size).map(|(start, len)| Ok((x.narrow(0, start, len)?, y.narrow(0, start, len)?)));
        self.evaluate_batches(OP, batches)
    }

    /// Runs the model on `x` in batches of `batch_size` rows without
    /// recording gradients, and returns the outputs (logits) of all rows.
    /// Needs no `compile`.
    ///
    /// Shapes: x (N, ...) gives (N, ...) outputs, for example (N, T) token
    /// ids give (N, T, V) logits.
    pub fn predict(&self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        const OP: &str = "predict";
        check_batch_size(OP, batch_size)?;
        if x.ndim() == 0 || x.shape()[0] == 0 {
            return Err(TrainError::invalid(OP, format!("x needs at least one sample, got shape {:?}", x.shape())));
        }
        let _no_grad = NoGradGuard::new();
        let mut outputs = Vec::new();
        for (start, len) in batch_ranges(x.shape()[0], batch_size) {
            let batch = x.narrow(0, start, len)?;
            outputs.push(self.net.forward(&Var::new(batch))?.value());
        }
        let parts: Vec<&Tensor> = outputs.iter().collect();
        Ok(Tensor::concat(&parts, 0)?)
    }

    /// Computes the loss and metrics over `batches` under `no_grad`, in the
    /// network's current mode.
    pub(crate) fn evaluate_batches(
        &self,
        op: &'static str,
        batches: impl IntoIterator<Item = Result<(Tensor, Tensor)>>,
    ) -> Result<Evaluation> {
        let compiled = self.compiled(op)?;
        let _no_grad = NoGradGuard::new();
        let mut running = RunningMetrics::new(&compiled.metrics);
        for batch in batches {
            let (x, y) = batch?;
            check_xy(op, &x, &y)?;
            let logits = self.net.forward(&Var::new(x.clone()))?;
            let loss = compiled.loss.compute(&logits, &y)?.value().item()?;
            running.add(loss, &logits.value(), &y, x.shape()[0])?;
        }
        let mut values = running.values("").into_iter();
        let (_, loss) = values.next().expect("values() starts with the loss");
        Ok(Evaluation { loss, metrics: values.collect() })
    }

    /// `val_loss` and the `val_` metrics over `batches`, with the network in
    /// evaluation mode meanwhile and back in training mode afterwards.
    pub(crate) fn validate(
        &mut self,
        op: &'static str,
        batches: impl IntoIterator<Item = Result<(Tensor, Tensor)>>,
    ) -> Result<Vec<(String, f32)>> {
        self.net.set_training(false);
        let result = self.evaluate_batches(op, batches);
        self.net.set_training(true);
        let evaluation = result?;

        let mut values = vec![("val_loss".to_string(), evaluation.loss)];
        values.extend(evaluation.metrics.into_iter().map(|(name, value)| (format!("val_{name}"), value)));
        Ok(values)
    }
}
