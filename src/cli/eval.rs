//! `aigc eval`: loss, perplexity and bits per byte on the validation split.

use std::path::PathBuf;

use aigc_autograd::no_grad;
use aigc_nn::sparse_categorical_crossentropy;
use aigc_train::lm_dataset::{read_text_file, TextDataset, DEFAULT_VAL_FRACTION};
use clap::Args;

use super::common::{load_model, token_byte_len};

/// Arguments of `aigc eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model directory written by `aigc train`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// UTF-8 text file; its last `--val-fraction` is the validation split.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Fraction of the file at its end used for validation (the same split training used).
    #[arg(long, default_value_t = DEFAULT_VAL_FRACTION, value_name = "X")]
    pub val_fraction: f32,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub batch_size: usize,
}

/// Runs `aigc eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let model = load_model(&args.model)?;
    let text = read_text_file(&args.data)?;
    let ids = model.encode(&text)?;
    let dataset = TextDataset::new(ids, model.gpt.config.block_size, args.batch_size.max(1), args.val_fraction)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.data.display()))?;

    // Sum the loss over every predicted validation token.
    let mut total_nats = 0.0f64;
    let mut total_tokens = 0usize;
    let mut total_bytes = 0usize;
    for (x, y) in dataset.validation_windows(args.batch_size.max(1))? {
        let loss = no_grad(|| model.gpt.logits(&x).and_then(|logits| sparse_categorical_crossentropy(&logits, &y)))?;
        let count = y.numel();
        total_nats += loss.value().item()? as f64 * count as f64;
        total_tokens += count;
        for id in y.to_vec() {
            total_bytes += token_byte_len(model.tokenizer.as_ref(), id as u32)?;
        }
    }
    let loss = total_nats / total_tokens as f64;
    // Bits per byte divides by the UTF-8 bytes of the predicted text, not by
    // tokens, so byte-level and BPE models are compared on the same scale.
    let bits_per_byte = total_nats / std::f64::consts::LN_2 / total_bytes as f64;
    println!(
        "{}",
        serde_json::json!({
            "val_loss": loss,
            "perplexity": loss.exp(),
            "bits_per_byte": bits_per_byte,
            "val_tokens": total_tokens,
            "val_bytes": total_bytes,
        })
    );
    Ok(())
}
