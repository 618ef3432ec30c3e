//! Pieces shared by the subcommands: threads, logging, model loading, text encoding.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};
use aigc_gpt::{Gpt, Quantization};
use aigc_tokenizer::Tokenizer;
use aigc_train::checkpoint::{self, ModelConfigFile};

/// Sets up `tracing` output on stderr; `RUST_LOG` overrides the default `info` level.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Sizes the one rayon pool: `--threads` wins over `RAYON_NUM_THREADS`.
pub fn configure_threads(threads: Option<usize>) -> anyhow::Result<()> {
    let Some(threads) = threads else { return Ok(()) };
    if threads == 0 {
        bail!("--threads 0 is invalid; give at least 1 (or leave it out to use RAYON_NUM_THREADS or all cores)");
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("could not configure the thread pool")?;
    Ok(())
}

/// Parses the value of `--quantize` for clap, whose error names the flag
/// and shows this message.
pub fn parse_quantization(value: &str) -> Result<Quantization, String> {
    value.parse().map_err(|_| format!("expected f32 (no quantization, the default) or q8 (8-bit weights), got {value:?}"))
}

/// A model directory loaded for use: the network, its `config.json` and,
/// for a BPE model, its tokenizer.
pub struct LoadedModel {
    /// The network with its trained weights.
    pub gpt: Gpt,
    /// The contents of `config.json`.
    pub config: ModelConfigFile,
    /// The BPE tokenizer from `tokenizer.json`; `None` for a byte-level model.
    pub tokenizer: Option<Tokenizer>,
}

impl LoadedModel {
    /// Encodes text into the model's token ids (see [`encode`]).
    pub fn encode(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        encode(self.tokenizer.as_ref(), text)
    }

    /// Decodes the model's token ids into text (see [`decode`]).
    pub fn decode(&self, ids: &[u32]) -> anyhow::Result<String> {
        decode(self.tokenizer.as_ref(), ids)
    }
}

/// Loads a model directory written by `aigc train` or `aigc sft`, with its
/// tokenizer when config.json names one. Fails when the tokenizer file is
/// missing or its vocabulary size differs from the model's.
pub fn load_model(dir: &Path) -> anyhow::Result<LoadedModel> {
    if !dir.is_dir() {
        bail!("model directory {} not found; train one with `aigc train --data FILE --out DIR`", dir.display());
    }
    let (gpt, config, _state) = checkpoint::load_gpt(dir)?;
    let tokenizer = checkpoint::load_tokenizer(dir, &config)?;
    Ok(LoadedModel { gpt, config, tokenizer })
}

/// Encodes text into token ids: with `tokenizer` when given (BPE), else one
/// id per UTF-8 byte (byte-level).
pub fn encode(tokenizer: Option<&Tokenizer>, text: &str) -> anyhow::Result<Vec<u32>> {
    match tokenizer {
        Some(tokenizer) => Ok(tokenizer.encode(text)?),
        None => Ok(text.bytes().map(u32::from).collect()),
    }
}

/// Decodes token ids into text; invalid UTF-8 sequences become U+FFFD. A
/// byte-level id above 255 is not a byte and decodes as U+FFFD too.
pub fn decode(tokenizer: Option<&Tokenizer>, ids: &[u32]) -> anyhow::Result<String> {
    match tokenizer {
        Some(tokenizer) => Ok(tokenizer.decode(ids)?),
        None => {
            let bytes: Vec<u8> = ids.iter().map(|&id| u8::try_from(id).unwrap_or(0xFF)).collect();
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// Returns the number of UTF-8 bytes that `id` stands for: 1 for a
/// byte-level id, the length of the token's bytes for a BPE id.
pub fn token_byte_len(tokenizer: Option<&Tokenizer>, id: u32) -> anyhow::Result<usize> {
    match tokenizer {
        Some(tokenizer) => Ok(tokenizer.token_bytes(id)?.len()),
        None => Ok(1),
    }
}
