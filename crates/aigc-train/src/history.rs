//! [`History`]: the loss and metrics recorded after each epoch or evaluation.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// The record of a training run: one value per series per record, where a
/// record is an epoch ([`crate::Model::fit`]) or an evaluation
/// ([`crate::Model::fit_batches`]).
///
/// Series are named as in Keras: `loss`, `val_loss`, and for each compiled
/// metric its name and `val_` + its name (`accuracy`, `val_accuracy`).
/// Serialized as one JSON object: `{"epochs": [0, 1], "steps": [10, 20],
/// "stopped_early": false, "loss": [..], "val_loss": [..], ..}`.
///
/// ```
/// # fn run(history: aigc_train::History) {
/// if let Some(val_loss) = history.get("val_loss") {
///     println!("best validation loss {:.4}", val_loss.iter().cloned().fold(f32::INFINITY, f32::min));
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    epochs: Vec<usize>,
    steps: Vec<usize>,
    series: Vec<(String, Vec<f32>)>,
    stopped_early: bool,
    skipped_steps: Vec<usize>,
}

impl History {
    /// Creates an empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the values of the series `name` (`"loss"`, `"val_accuracy"`, ...), one
    /// per record, or `None` when nothing was recorded under that name.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.series.iter().find(|(series, _)| series == name).map(|(_, values)| values.as_slice())
    }

    /// Returns the training loss per record (empty before the first record).
    pub fn loss(&self) -> &[f32] {
        self.get("loss").unwrap_or(&[])
    }

    /// Returns the validation loss per record, when validation data was given.
    pub fn val_loss(&self) -> Option<&[f32]> {
        self.get("val_loss")
    }

    /// Returns the last value of the series `name`.
    pub fn last(&self, name: &str) -> Option<f32> {
        self.get(name).and_then(|values| values.last().copied())
    }

    /// Returns the names of the recorded series, in the order they first appeared.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.series.iter().map(|(name, _)| name.as_str())
    }

    /// Returns the epoch index (from 0, as in Keras) of each record. Runs of
    /// [`crate::Model::fit_batches`] count steps instead and leave it empty.
    pub fn epochs(&self) -> &[usize] {
        &self.epochs
    }

    /// Returns the number of optimizer steps completed at each record.
    pub fn steps(&self) -> &[usize] {
        &self.steps
    }

    /// Returns the number of records.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Returns whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether a callback (such as [`crate::EarlyStopping`]) stopped the run
    /// before its last epoch or step.
    pub fn stopped_early(&self) -> bool {
        self.stopped_early
    }

    /// Appends a record. A series missing from `values` gets NaN for this
    /// record, and a new series gets NaN for the earlier ones, so every series
    /// keeps one value per record.
    pub(crate) fn record(&mut self, epoch: Option<usize>, step: usize, values: &[(String, f32)]) {
        let previous_records = self.steps.len();
        if let Some(epoch) = epoch {
            self.epochs.push(epoch);
        }
        self.steps.push(step);
        for (name, value) in values {
            match self.series.iter_mut().find(|(series, _)| series == name) {
                Some((_, series)) => series.push(*value),
                None => {
                    let mut series = vec![f32::NAN; previous_records];
                    series.push(*value);
                    self.series.push((name.clone(), series));
                }
            }
        }
        for (_, series) in &mut self.series {
            if series.len() == previous_records {
                series.push(f32::NAN);
            }
        }
    }

    /// Returns the steps that `skip_nonfinite` skipped because their loss or
    /// gradient norm was NaN or infinite, in order.
    pub fn skipped_steps(&self) -> &[usize] {
        &self.skipped_steps
    }

    pub(crate) fn record_skipped(&mut self, step: usize) {
        self.skipped_steps.push(step);
    }

    pub(crate) fn mark_stopped_early(&mut self) {
        self.stopped_early = true;
    }
}

impl Serialize for History {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3 + self.series.len()))?;
        map.serialize_entry("epochs", &self.epochs)?;
        map.serialize_entry("steps", &self.steps)?;
        map.serialize_entry("stopped_early", &self.stopped_early)?;
        for (name, values) in &self.series {
            map.serialize_entry(name, values)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keeps_series_aligned() {
        let mut history = History::new();
        history.record(Some(0), 5, &[("loss".into(), 1.0)]);
        history.record(Some(1), 10, &[("loss".into(), 0.5), ("val_loss".into(), 0.7)]);

        assert_eq!(history.loss(), &[1.0, 0.5]);
        let val_loss = history.val_loss().unwrap();
        assert!(val_loss[0].is_nan());
        assert_eq!(val_loss[1], 0.7);
        assert_eq!(history.epochs(), &[0, 1]);
        assert_eq!(history.steps(), &[5, 10]);
        assert_eq!(history.names().collect::<Vec<_>>(), vec!["loss", "val_loss"]);
    }

    #[test]
    fn serializes_as_flat_object() {
        let mut history = History::new();
        history.record(Some(0), 3, &[("loss".into(), 0.25), ("accuracy".into(), 0.5)]);

        let json = serde_json::to_string(&history).unwrap();
        assert_eq!(json, r#"{"epochs":[0],"steps":[3],"stopped_early":false,"loss":[0.25],"accuracy":[0.5]}"#);
    }
}
