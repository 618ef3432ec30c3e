//! Language-model data: a token stream cut into (input, next-token) windows.
//!
//! A text file becomes a sequence of token ids (bytes, for the byte-level
//! tokenizer). The first `1 − val_fraction` of the ids is the training split,
//! the rest the validation split, so training and `aigc eval` agree on which
//! text was held out. Training samples windows at random offsets (as nanoGPT
//! does); evaluation walks the validation split in order.

use std::path::Path;

use aigc_tensor::{Rng, Tensor};

use crate::batches::BatchSource;
use crate::error::{Result, TrainError};

/// Fraction of a text file held out for validation unless told otherwise.
pub const DEFAULT_VAL_FRACTION: f32 = 0.1;

/// Token ids split into training and validation parts, served as
/// (B, T) input windows with (B, T) next-token targets.
#[derive(Debug, Clone)]
pub struct TextDataset {
    train: Vec<u32>,
    val: Vec<u32>,
    block_size: usize,
    batch_size: usize,
    /// Random validation batches drawn per evaluation during training.
    pub eval_batches: usize,
}

/// Reads a UTF-8 text file, rejecting missing, empty and non-UTF-8 files with
/// a message that names the file.
pub fn read_text_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    if bytes.is_empty() {
        return Err(TrainError::invalid_file(path, "the file is empty; training needs text"));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        TrainError::invalid_file(path, format!("the file is not valid UTF-8 (first invalid byte at offset {at}); convert it to UTF-8 first"))
    })
}

impl TextDataset {
    /// Splits `ids` into training and validation parts and checks that each
    /// holds at least one window of `block_size + 1` tokens.
    pub fn new(ids: Vec<u32>, block_size: usize, batch_size: usize, val_fraction: f32) -> Result<TextDataset> {
        if block_size == 0 {
            return Err(TrainError::invalid("dataset", "block_size is 0; it must be at least 1"));
        }
        if batch_size == 0 {
            return Err(TrainError::invalid("dataset", "batch_size is 0; it must be at least 1"));
        }
        if !(val_fraction > 0.0 && val_fraction < 1.0) {
            return Err(TrainError::invalid("dataset", format!("val_fraction {val_fraction} must be in (0, 1)")));
        }
        let split = ((ids.len() as f64) * (1.0 - val_fraction as f64)).round() as usize;
        let (train, val) = (ids[..split].to_vec(), ids[split..].to_vec());
        for (name, part) in [("training", &train), ("validation", &val)] {
            if part.len() < block_size + 1 {
                return Err(TrainError::invalid(
                    "dataset",
                    format!(
                        "the {name} split has {} tokens but one window needs block_size + 1 = {}; use more text or a smaller --block-size",
                        part.len(),
                        block_size + 1
                    ),
                ));
            }
        }
        Ok(TextDataset { train, val, block_size, batch_size, eval_batches: 20 })
    }

    /// Reads a UTF-8 text file as bytes (byte-level tokens, vocabulary 256).
    pub fn from_text_file(path: &Path, block_size: usize, batch_size: usize, val_fraction: f32) -> Result<TextDataset> {
        let text = read_text_file(path)?;
        let ids = text.bytes().map(u32::from).collect();
        TextDataset::new(ids, block_size, batch_size, val_fraction).map_err(|e| match e {
            TrainError::InvalidArgument { message, .. } => TrainError::invalid_file(path, message),
            other => other,
        })
    }

    /// Number of tokens in the training split.
    pub fn train_len(&self) -> usize {
        self.train.len()
    }

    /// Number of tokens in the validation split.
    pub fn val_len(&self) -> usize {
        self.val.len()
    }

    /// The context length of each window.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// A batch of windows at random offsets of `part`: inputs and targets (B, T).
    fn random_batch(part: &[u32], block_size: usize, batch_size: usize, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
        let mut x = Vec::with_capacity(batch_size * block_size);
        let mut y = Vec::with_capacity(batch_size * block_size);
        for _ in 0..batch_size {
            let start = rng.below(part.len() - block_size);
            x.extend(part[start..start + block_size].iter().map(|&id| id as f32));
            y.extend(part[start + 1..start + block_size + 1].iter().map(|&id| id as f32));
        }
        Ok((Tensor::from_vec(x, &[batch_size, block_size])?, Tensor::from_vec(y, &[batch_size, block_size])?))
    }

    /// The whole validation split as consecutive, non-overlapping windows,
    /// grouped into batches of at most `batch_size`; the last window is
    /// shortened rather than dropped, so every validation token but the
    /// first is predicted exactly once.
    pub fn validation_windows(&self, batch_size: usize) -> Result<Vec<(Tensor, Tensor)>> {
        let mut windows: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
        let mut start = 0;
        while start + 1 < self.val.len() {
            let len = self.block_size.min(self.val.len() - 1 - start);
            let x = self.val[start..start + len].iter().map(|&id| id as f32).collect();
            let y = self.val[start + 1..start + len + 1].iter().map(|&id| id as f32).collect();
            windows.push((x, y));
            start += len;
        }
        let mut batches = Vec::new();
        for group in windows.chunk_by(|a, b| a.0.len() == b.0.len()) {
            for chunk in group.chunks(batch_size.max(1)) {
                let t = chunk[0].0.len();
                let x: Vec<f32> = chunk.iter().flat_map(|w| w.0.iter().copied()).collect();
                let y: Vec<f32> = chunk.iter().flat_map(|w| w.1.iter().copied()).collect();
                batches.push((Tensor::from_vec(x, &[chunk.len(), t])?, Tensor::from_vec(y, &[chunk.len(), t])?));
            }
        }
        Ok(batches)
    }
}

impl BatchSource for TextDataset {
    fn next_batch(&mut self, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
        TextDataset::random_batch(&self.train, self.block_size, self.batch_size, rng)
    }

    fn validation_batches(&mut self, rng: &mut Rng) -> Result<Vec<(Tensor, Tensor)>> {
        (0..self.eval_batches)
            .map(|_| TextDataset::random_batch(&self.val, self.block_size, self.batch_size, rng))
            .collect()
    }

    fn tokens_per_batch(&self) -> usize {
        self.block_size * self.batch_size
    }
}
