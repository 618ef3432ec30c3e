//! `aigc train`: pretrain a GPT on a text file with the Keras-style `fit_batches`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use aigc_gpt::{Gpt, GptConfig, PRESET_NAMES};
use aigc_nn::Module;
use aigc_tokenizer::Tokenizer;
use aigc_train::checkpoint::{self, save_tokenizer, write_model_config, TrainingState, TOKENIZER_FILE};
use aigc_train::lm_dataset::{read_text_file, TextDataset};
use aigc_train::{Model, TrainError};
use clap::Args;

use super::training::{prepare_out_dir, TrainingDefaults, TrainingOptions, TRAIN_LOG_FILE};

/// The defaults of `aigc train`: nanoGPT's CPU recipe for a tiny model.
const TRAIN_DEFAULTS: TrainingDefaults = TrainingDefaults { steps: 2000, batch_size: 12, lr: 1e-3, eval_interval: 250 };

/// Arguments of `aigc train`. Defaults follow nanoGPT: AdamW, linear warm-up
/// then cosine decay to a tenth of the peak rate, gradient clipping at 1.0.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// UTF-8 text file to train on; its last `--val-fraction` is held out for validation.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Model directory to write (config.json, model.safetensors, train_log.jsonl, and tokenizer.json with --tokenizer).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// BPE tokenizer from `aigc tokenizer train`; without it the model is byte-level (one token per byte).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Model size: tiny (n_layer 4, n_head 4, n_embd 128, block 128) or small (6, 6, 384, 256).
    #[arg(long, default_value = "tiny", value_name = "NAME")]
    pub preset: String,
    /// Context length in tokens (default: the preset's).
    #[arg(long, value_name = "N")]
    pub block_size: Option<usize>,
    /// Dropout probability.
    #[arg(long, default_value_t = 0.0, value_name = "X")]
    pub dropout: f32,
    /// Continue the run checkpointed in DIR (usually its --out) up to --steps; the model and tokenizer come from DIR.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Save a checkpoint (weights and training state) every N steps (default: --eval-interval).
    #[arg(long, value_name = "N")]
    pub checkpoint_interval: Option<usize>,
    #[command(flatten)]
    pub training: TrainingOptions,
}

fn model_config(args: &TrainArgs, vocab_size: usize) -> anyhow::Result<GptConfig> {
    if args.block_size == Some(0) {
        anyhow::bail!("--block-size 0 is invalid; it must be at least 1");
    }
    let preset = GptConfig::preset(&args.preset)
        .map_err(|_| anyhow::anyhow!("--preset {:?} is not a preset; valid presets: {}", args.preset, PRESET_NAMES.join(", ")))?;
    let mut config = preset.with_dropout(args.dropout).with_vocab_size(vocab_size);
    if let Some(block_size) = args.block_size {
        config = config.with_block_size(block_size);
    }
    config.validate()?;
    Ok(config)
}

/// Loads `--tokenizer`, naming the flag when the file is missing or invalid.
fn load_tokenizer(path: &std::path::Path) -> anyhow::Result<Tokenizer> {
    if !path.is_file() {
        anyhow::bail!("--tokenizer {} not found; create one with `aigc tokenizer train --data FILE --vocab-size N --out {}`", path.display(), path.display());
    }
    Tokenizer::from_file(path).with_context(|| format!("--tokenizer {} could not be loaded", path.display()))
}

/// Reads `--data` and encodes it once, with the tokenizer or as bytes.
fn load_dataset(args: &TrainArgs, tokenizer: Option<&Tokenizer>, block_size: usize, batch_size: usize, val_fraction: f32) -> anyhow::Result<TextDataset> {
    let text = read_text_file(&args.data)?;
    let ids = match tokenizer {
        Some(tokenizer) => tokenizer.encode(&text).with_context(|| format!("could not encode {}", args.data.display()))?,
        None => text.bytes().map(u32::from).collect(),
    };
    let dataset = TextDataset::new(ids, block_size, batch_size, val_fraction).map_err(|e| match e {
        TrainError::InvalidArgument { message, .. } => TrainError::invalid_file(&args.data, message),
        other => other,
    })?;
    Ok(dataset)
}

/// The model, tokenizer and training state of `--resume DIR`.
fn load_resume(dir: &Path) -> anyhow::Result<(Gpt, Option<Tokenizer>, TrainingState)> {
    if !dir.is_dir() {
        anyhow::bail!("--resume {} not found; give the --out directory of the run to continue", dir.display());
    }
    checkpoint::recover_checkpoint(dir)?;
    let config = checkpoint::read_config(dir)?;
    let tokenizer = checkpoint::load_tokenizer(dir, &config)?;
    let net = Gpt::new(config.config)?;
    let state = checkpoint::load_checkpoint(dir, &net.parameters())?;
    if state.threads != rayon::current_num_threads() {
        tracing::warn!(
            "the checkpoint was trained with {} threads and this run uses {}, so the losses will differ slightly from an uninterrupted run; pass --threads {} to match",
            state.threads,
            rayon::current_num_threads(),
            state.threads
        );
    }
    Ok((net, tokenizer, state))
}

/// Drops the lines of `train_log.jsonl` after `step`: those a crash after
/// the last checkpoint left behind, which the resumed run logs again.
fn truncate_train_log(path: &Path, step: u64) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: String = text
        .lines()
        .filter(|line| {
            let logged = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|entry| entry["step"].as_u64());
            logged.is_some_and(|logged| logged <= step)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    checkpoint::write_atomic(path, kept.as_bytes())?;
    Ok(())
}

/// Installs the Ctrl-C and SIGTERM handler: the first signal sets the
/// returned flag, so training saves a checkpoint and stops after the current
/// step; a second one exits at once with status 130.
fn install_interrupt_handler() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted again: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("interrupt received: saving a checkpoint after the current step (press Ctrl-C again to quit at once)");
    })
    .context("could not install the Ctrl-C handler")?;
    Ok(flag)
}

/// Runs `aigc train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let settings = args.training.resolve(TRAIN_DEFAULTS)?;
    if settings.val_fraction == 0.0 {
        anyhow::bail!("--val-fraction 0 is invalid for train; pretraining holds out the end of the text, so give a value in (0, 1) such as 0.1");
    }
    if args.checkpoint_interval == Some(0) {
        anyhow::bail!("--checkpoint-interval 0 is invalid; it must be at least 1");
    }
    if args.resume.is_some() && args.tokenizer.is_some() {
        anyhow::bail!("--tokenizer cannot be combined with --resume; the run keeps the tokenizer of the directory it resumes");
    }
    let (net, tokenizer, resume) = match &args.resume {
        Some(dir) => {
            let (net, tokenizer, state) = load_resume(dir)?;
            (net, tokenizer, Some(state))
        }
        None => {
            let tokenizer = args.tokenizer.as_deref().map(load_tokenizer).transpose()?;
            let vocab_size = tokenizer.as_ref().map_or(256, Tokenizer::vocab_size);
            let config = model_config(&args, vocab_size)?;
            (Gpt::with_seed(config, settings.seed)?, tokenizer, None)
        }
    };
    let config = net.config.clone();
    let mut dataset = load_dataset(&args, tokenizer.as_ref(), config.block_size, settings.batch_size, settings.val_fraction)?;
    prepare_out_dir(&args.out)?;
    // A fresh run starts a new log; a resumed one drops what was logged after its checkpoint.
    let start = resume.as_ref().map_or(0, |state| state.step);
    truncate_train_log(&args.out.join(TRAIN_LOG_FILE), start)?;

    // The tokenizer and config go first, so every checkpoint is a complete
    // model directory and config.json never names a missing file.
    let tokenizer_kind = match &tokenizer {
        Some(tokenizer) => {
            save_tokenizer(&args.out, tokenizer)?;
            TOKENIZER_FILE
        }
        None => "bytes",
    };
    write_model_config(&args.out, &config, tokenizer_kind)?;

    tracing::info!(
        parameters = net.num_parameters(),
        train_tokens = dataset.train_len(),
        val_tokens = dataset.val_len(),
        "training a GPT (n_layer {}, n_head {}, n_embd {}, block_size {}, vocab_size {}) on {}{}",
        config.n_layer, config.n_head, config.n_embd, config.block_size, config.vocab_size, args.data.display(),
        if start > 0 { format!(", resuming at step {start}") } else { String::new() }
    );
    let mut model = Model::from(net);
    settings.compile(&mut model)?;
    let interrupted = install_interrupt_handler()?;
    let mut options = settings.step_options(&args.out)?.stop_flag(Arc::clone(&interrupted));
    if let Some(interval) = args.checkpoint_interval {
        options = options.checkpoint_interval(interval);
    }
    if let Some(state) = resume {
        options = options.resume_from(state);
    }

    let started = std::time::Instant::now();
    let history = model.fit_batches(&mut dataset, options)?;
    let seconds = started.elapsed().as_secs_f64();
    let saved = checkpoint::read_training_state(&args.out)?.map_or(0, |state| state.step);
    if interrupted.load(Ordering::SeqCst) && history.stopped_early() {
        tracing::info!(
            "interrupted: checkpoint of step {saved} saved to {}; continue with the same command and --resume {}",
            args.out.display(),
            args.out.display()
        );
        return Ok(());
    }

    let val_loss = history.get("val_loss").and_then(|v| v.last().copied());
    let tokens = ((saved - start) as usize * settings.batch_size * config.block_size) as f64;
    tracing::info!(
        "done: {} steps in {seconds:.1} s ({:.0} tokens/s), final val_loss {}; saved to {}",
        saved - start,
        tokens / seconds,
        val_loss.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into()),
        args.out.display()
    );
    Ok(())
}
