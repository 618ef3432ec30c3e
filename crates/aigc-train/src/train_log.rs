//! `train_log.jsonl`: one JSON object per logged step, so runs can be compared and plotted.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Result, TrainError};

/// One line of the training log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainLogEntry {
    /// Optimizer steps completed.
    pub step: usize,
    /// Training loss of this step (mean cross-entropy, nats per token).
    pub loss: f32,
    /// Learning rate used for this step.
    pub lr: f32,
    /// Training throughput since the previous entry, tokens per second.
    pub tokens_per_s: f32,
    /// Validation loss, when evaluated at this step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f32>,
    /// Global gradient norm before clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f32>,
}

/// Appends [`TrainLogEntry`] lines to a file, flushing each one.
pub struct TrainLog {
    path: PathBuf,
    file: std::fs::File,
}

impl TrainLog {
    /// Opens `path` for appending, creating it if missing.
    pub fn open(path: &Path) -> Result<TrainLog> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| TrainError::io(path, e))?;
        Ok(TrainLog { path: path.to_path_buf(), file })
    }

    /// Appends one entry as a JSON line.
    pub fn append(&mut self, entry: &TrainLogEntry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(|e| TrainError::json(&self.path, e))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| TrainError::io(&self.path, e))
    }
}
