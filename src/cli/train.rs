//! `aigc train`: pretrain a GPT on a text file with the Keras-style `fit_batches`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use aigc_gpt::{Gpt, GptConfig, PRESET_NAMES};
use aigc_nn::Module;
use aigc_tokenizer::Tokenizer;
use aigc_train::checkpoint::{self, save_tokenizer, write_model_config, TOKENIZER_FILE};
use aigc_train::lm_dataset::{read_text_file, TextDataset};
use aigc_train::{Model, TrainError};
use clap::Args;

use super::resume::{check_seed, fit_with_interrupts, load_resume, truncate_train_log, Resume};
use super::training::{prepare_run_dir, TrainingDefaults, TrainingOptions, TRAIN_LOG_FILE};

/// The defaults of `aigc train`: nanoGPT's CPU recipe for a tiny model.
const TRAIN_DEFAULTS: TrainingDefaults = TrainingDefaults { steps: 2000, batch_size: 12, lr: 1e-3, eval_interval: 250 };

/// Arguments of `aigc train`. Defaults follow nanoGPT: AdamW, linear warm-up
/// then cosine decay to a tenth of the peak rate, gradient clipping at 1.0.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// UTF-8 text file to train on; its last `--val-fraction` is held out for validation.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Model directory to write: config.json, model.safetensors, training_state.bin (what --resume continues from), train_log.jsonl, and tokenizer.json with --tokenizer. A directory that already contains a model is rejected unless --resume names it.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// BPE tokenizer from `aigc tokenizer train`; without it the model is byte-level (one token per byte).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Model size: tiny (n_layer 4, n_head 4, n_embd 128, block 128) or small (6, 6, 384, 256) [default: tiny].
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Context length in tokens (default: the preset's).
    #[arg(long, value_name = "N")]
    pub block_size: Option<usize>,
    /// Dropout probability [default: 0].
    #[arg(long, value_name = "X")]
    pub dropout: Option<f32>,
    /// Continue the run checkpointed in DIR (usually its --out) up to --steps. The model, tokenizer and seed come from DIR, so --preset, --block-size, --dropout and --seed can be left out.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Save a checkpoint (weights and training state) every N steps (default: --eval-interval).
    #[arg(long, value_name = "N")]
    pub checkpoint_interval: Option<usize>,
    #[command(flatten)]
    pub training: TrainingOptions,
}

/// The preset of a run started without --preset.
const DEFAULT_PRESET: &str = "tiny";

/// Returns the preset called `name`, naming the flag when there is none.
fn preset(name: &str) -> anyhow::Result<GptConfig> {
    GptConfig::preset(name)
        .map_err(|_| anyhow::anyhow!("--preset {name:?} is not a preset; valid presets: {}", PRESET_NAMES.join(", ")))
}

fn model_config(args: &TrainArgs, vocab_size: usize) -> anyhow::Result<GptConfig> {
    if args.block_size == Some(0) {
        anyhow::bail!("--block-size 0 is invalid; it must be at least 1");
    }
    let preset = preset(args.preset.as_deref().unwrap_or(DEFAULT_PRESET))?;
    let mut config = preset.with_dropout(args.dropout.unwrap_or(0.0)).with_vocab_size(vocab_size);
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

// TODO: the training state does not record --lr, --batch-size and the other
// training flags, so a resume with other values goes undetected and is not
// exact; saving them in the state would let this check cover them too.
/// Fails when an architecture flag given with `--resume` disagrees with the
/// checkpoint's config: the run continues the checkpoint's model, so the
/// flag would be ignored.
fn check_resume_flags(args: &TrainArgs, dir: &Path, config: &GptConfig) -> anyhow::Result<()> {
    let conflict = |flag: String, saved: String| {
        anyhow::anyhow!(
            "{flag} differs from the checkpoint in {}, which has {saved}; leave out {} when resuming (the run continues the checkpoint's model), or start a new run in another --out directory",
            dir.display(),
            flag.split(' ').next().unwrap_or_default()
        )
    };
    if let Some(name) = &args.preset {
        let requested = preset(name)?;
        let shape = |c: &GptConfig| (c.n_layer, c.n_head, c.n_embd);
        if shape(&requested) != shape(config) {
            let saved = format!("n_layer {}, n_head {}, n_embd {}", config.n_layer, config.n_head, config.n_embd);
            let flag = format!(
                "--preset {name} (n_layer {}, n_head {}, n_embd {})",
                requested.n_layer, requested.n_head, requested.n_embd
            );
            return Err(conflict(flag, saved));
        }
    }
    if let Some(block_size) = args.block_size {
        if block_size != config.block_size {
            return Err(conflict(format!("--block-size {block_size}"), format!("block_size {}", config.block_size)));
        }
    }
    if let Some(dropout) = args.dropout {
        if dropout != config.dropout {
            return Err(conflict(format!("--dropout {dropout}"), format!("dropout {}", config.dropout)));
        }
    }
    Ok(())
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
            let Resume { net, tokenizer, state, .. } = load_resume(dir)?;
            check_resume_flags(&args, dir, &net.config)?;
            check_seed(args.training.seed, &state, dir)?;
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
    prepare_run_dir(&args.out, args.resume.as_deref())?;
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
        precision = %super::precision::current_precision(),
        "training a GPT (n_layer {}, n_head {}, n_embd {}, block_size {}, vocab_size {}) on {}{}",
        config.n_layer, config.n_head, config.n_embd, config.block_size, config.vocab_size, args.data.display(),
        if start > 0 { format!(", resuming at step {start}") } else { String::new() }
    );
    let mut model = Model::from(net);
    let Some((history, seconds)) =
        fit_with_interrupts(&mut model, &mut dataset, &settings, &args.out, args.checkpoint_interval, resume)?
    else {
        return Ok(());
    };
    let saved = checkpoint::read_training_state(&args.out)?.map_or(0, |state| state.step);

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
