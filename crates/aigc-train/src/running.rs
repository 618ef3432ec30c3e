//! [`RunningMetrics`]: the loss and metrics averaged over the batches seen so far.

use aigc_tensor::Tensor;

use crate::compile::Metric;
use crate::error::Result;

/// Sums of the loss and the metrics, each batch weighted by its number of
/// rows, so that a short last batch counts in proportion to its size.
///
/// NOTE: weighting by rows treats every row alike, so with ignored (−1)
/// targets a row with few real targets counts as much as a full one.
pub(crate) struct RunningMetrics {
    metrics: Vec<Metric>,
    rows: f64,
    loss_sum: f64,
    metric_sums: Vec<f64>,
}

impl RunningMetrics {
    pub(crate) fn new(metrics: &[Metric]) -> Self {
        RunningMetrics { metrics: metrics.to_vec(), rows: 0.0, loss_sum: 0.0, metric_sums: vec![0.0; metrics.len()] }
    }

    /// Restores the sums that [`RunningMetrics::sums`] returned, as when a run resumes.
    pub(crate) fn from_sums(metrics: &[Metric], rows: f64, loss_sum: f64, metric_sums: Vec<f64>) -> Self {
        RunningMetrics { metrics: metrics.to_vec(), rows, loss_sum, metric_sums }
    }

    /// Returns the rows, the loss sum and the metric sums, to save in a checkpoint.
    pub(crate) fn sums(&self) -> (f64, f64, &[f64]) {
        (self.rows, self.loss_sum, &self.metric_sums)
    }

    /// Adds a batch of `rows` rows with mean loss `loss`, computing the
    /// metrics from its logits and targets.
    pub(crate) fn add(&mut self, loss: f32, logits: &Tensor, targets: &Tensor, rows: usize) -> Result<()> {
        let weight = rows as f64;
        for (metric, sum) in self.metrics.iter().zip(&mut self.metric_sums) {
            let value = match metric {
                Metric::Accuracy => aigc_nn::accuracy(logits, targets)?,
                Metric::SparseCategoricalAccuracy => aigc_nn::sparse_categorical_accuracy(logits, targets)?,
                // Perplexity is exp(mean loss), computed from the loss sum in `values`.
                Metric::Perplexity => 0.0,
            };
            *sum += f64::from(value) * weight;
        }
        self.loss_sum += f64::from(loss) * weight;
        self.rows += weight;
        Ok(())
    }

    /// Returns the mean loss, NaN when no batch was added.
    pub(crate) fn loss(&self) -> f32 {
        (self.loss_sum / self.rows) as f32
    }

    /// `prefix + "loss"` then `prefix + name` of each metric, with their means.
    pub(crate) fn values(&self, prefix: &str) -> Vec<(String, f32)> {
        let mut values = vec![(format!("{prefix}loss"), self.loss())];
        for (metric, sum) in self.metrics.iter().zip(&self.metric_sums) {
            let value = match metric {
                Metric::Perplexity => aigc_nn::perplexity(self.loss()),
                _ => (sum / self.rows) as f32,
            };
            values.push((format!("{prefix}{}", metric.name()), value));
        }
        values
    }
}
