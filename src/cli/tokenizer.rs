//! `aigc tokenizer`: train a byte-level BPE tokenizer and measure how it
//! encodes a file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use aigc_tokenizer::{Tokenizer, TokenizerError, MIN_VOCAB_SIZE};
use aigc_train::lm_dataset::read_text_file;
use clap::{Args, Subcommand};

/// Arguments of `aigc tokenizer`.
#[derive(Debug, Args)]
pub struct TokenizerArgs {
    #[command(subcommand)]
    pub command: TokenizerCommand,
}

/// The subcommands of `aigc tokenizer`.
#[derive(Debug, Subcommand)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE tokenizer with the chat special tokens and save it as tokenizer.json.
    Train(TrainTokenizerArgs),
    /// Encode a UTF-8 file and print the token count, tokens per byte and MB/s as one JSON line.
    Encode(EncodeArgs),
}

/// Arguments of `aigc tokenizer train`.
#[derive(Debug, Args)]
pub struct TrainTokenizerArgs {
    /// UTF-8 text file to learn merges from; repeat the flag for several files.
    #[arg(long, value_name = "FILE", required = true)]
    pub data: Vec<PathBuf>,
    /// Vocabulary size, counting the 256 byte tokens and the 6 special tokens (at least 262).
    #[arg(long, value_name = "N")]
    pub vocab_size: usize,
    /// Output file, in the Hugging Face tokenizer.json format.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Arguments of `aigc tokenizer encode`.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// tokenizer.json written by `aigc tokenizer train` (or found in a BPE model directory).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: PathBuf,
    /// UTF-8 text file to encode.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
}

/// Runs `aigc tokenizer`.
pub fn run(args: TokenizerArgs) -> anyhow::Result<()> {
    match args.command {
        TokenizerCommand::Train(args) => train(args),
        TokenizerCommand::Encode(args) => encode(args),
    }
}

fn train(args: TrainTokenizerArgs) -> anyhow::Result<()> {
    if args.vocab_size < MIN_VOCAB_SIZE {
        bail!(
            "--vocab-size {} is too small; the minimum is {MIN_VOCAB_SIZE} (256 byte tokens and {} special tokens), and a few thousand suits most corpora",
            args.vocab_size,
            MIN_VOCAB_SIZE - 256
        );
    }
    let mut corpus_bytes = 0u64;
    for path in &args.data {
        let metadata = std::fs::metadata(path).with_context(|| format!("could not read --data {}", path.display()))?;
        if !metadata.is_file() {
            bail!("--data {} is not a file; give a UTF-8 text file", path.display());
        }
        corpus_bytes += metadata.len();
    }
    if corpus_bytes == 0 {
        bail!("the --data files are empty; a tokenizer needs text to learn merges from");
    }
    check_out_path(&args.out)?;

    let started = Instant::now();
    let tokenizer = Tokenizer::train_from_files(&args.data, args.vocab_size).map_err(|e| match e {
        TokenizerError::ReadCorpus { path, source } if source.kind() == std::io::ErrorKind::InvalidData => {
            anyhow::anyhow!("--data {} is not valid UTF-8 text; convert it to UTF-8 first", path.display())
        }
        other => other.into(),
    })?;
    let seconds = started.elapsed().as_secs_f64();
    tokenizer.save(&args.out)?;

    if tokenizer.vocab_size() < args.vocab_size {
        tracing::warn!(
            "the corpus ran out of pairs that occur at least twice: the vocabulary has {} tokens, not the {} requested",
            tokenizer.vocab_size(),
            args.vocab_size
        );
    }
    tracing::info!(
        "trained a tokenizer of {} tokens on {corpus_bytes} bytes in {seconds:.1} s; saved to {}",
        tokenizer.vocab_size(),
        args.out.display()
    );
    println!(
        "{}",
        serde_json::json!({
            "vocab_size": tokenizer.vocab_size(),
            "corpus_bytes": corpus_bytes,
            "seconds": seconds,
            "out": args.out.display().to_string(),
        })
    );
    Ok(())
}

/// Rejects an output path that is a directory, and creates missing parent directories.
fn check_out_path(out: &Path) -> anyhow::Result<()> {
    if out.is_dir() {
        bail!("--out {} is a directory; give a file path such as {}", out.display(), out.join("tokenizer.json").display());
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("could not create the directory of --out {}", out.display()))?;
    }
    Ok(())
}

fn encode(args: EncodeArgs) -> anyhow::Result<()> {
    if !args.tokenizer.is_file() {
        bail!("--tokenizer {} not found; create one with `aigc tokenizer train`", args.tokenizer.display());
    }
    let tokenizer = Tokenizer::from_file(&args.tokenizer)?;
    let text = read_text_file(&args.data)?;

    let started = Instant::now();
    let ids = tokenizer.encode(&text)?;
    let seconds = started.elapsed().as_secs_f64();
    // Decoding must give the text back; a mismatch means the tokenizer is broken.
    if tokenizer.decode(&ids)? != text {
        bail!("decoding the ids of {} did not give the text back; the tokenizer is not lossless", args.data.display());
    }

    let bytes = text.len();
    let tokens_per_byte = ids.len() as f64 / bytes as f64;
    let mb_per_s = bytes as f64 / 1e6 / seconds.max(f64::MIN_POSITIVE);
    eprintln!(
        "{}: {} tokens for {bytes} bytes ({tokens_per_byte:.3} tokens per byte, {:.2} bytes per token), encoded at {mb_per_s:.1} MB/s",
        args.data.display(),
        ids.len(),
        1.0 / tokens_per_byte
    );
    println!(
        "{}",
        serde_json::json!({
            "tokens": ids.len(),
            "bytes": bytes,
            "tokens_per_byte": tokens_per_byte,
            "mb_per_s": mb_per_s,
            "seconds": seconds,
            "vocab_size": tokenizer.vocab_size(),
        })
    );
    Ok(())
}
