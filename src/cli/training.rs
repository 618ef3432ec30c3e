//! Training options shared by `aigc train` and `aigc sft`, and the pieces
//! both commands build from them: the AdamW optimizer, the warm-up + cosine
//! schedule, `train_log.jsonl` and periodic checkpoints.

use std::path::Path;

use anyhow::{bail, Context};
use aigc_gpt::Gpt;
use aigc_nn::Parameter;
use aigc_optim::{AdamW, WarmupCosine};
use aigc_train::checkpoint;
use aigc_train::train_log::{TrainLog, TrainLogEntry};
use aigc_train::{Callback, Model, SkippedStep, StepLog, StepOptions, TrainingControl, MAX_CONSECUTIVE_SKIPS};
use clap::Args;

/// File name of the step log in a model directory.
pub const TRAIN_LOG_FILE: &str = "train_log.jsonl";

/// Optimizer, schedule and logging options of `aigc train` and `aigc sft`.
///
/// Options whose default differs between the two commands are `Option`s,
/// and [`TrainingOptions::resolve`] fills them from the command's
/// [`TrainingDefaults`].
#[derive(Debug, Args)]
pub struct TrainingOptions {
    /// Optimizer steps (default: 2000 for train, 300 for sft).
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// Sequences per step (default: 12 for train, 16 for sft).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Peak learning rate (default: 1e-3 for train, 3e-4 for sft).
    #[arg(long, value_name = "X")]
    pub lr: Option<f32>,
    /// Final learning rate of the cosine decay (default: lr / 10).
    #[arg(long, value_name = "X")]
    pub min_lr: Option<f32>,
    /// Linear warm-up steps (default: min(100, steps / 10)).
    #[arg(long, value_name = "N")]
    pub warmup_steps: Option<usize>,
    /// AdamW weight decay, applied to weight matrices only.
    #[arg(long, default_value_t = 0.1, value_name = "X")]
    pub weight_decay: f32,
    /// Maximum global gradient norm; 0 disables clipping.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub grad_clip: f32,
    /// Random seed for initialisation, batch sampling and the validation split [default: 1337; a resumed run keeps its checkpoint's].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Evaluate the validation loss and save the weights every N steps (default: 250 for train, 100 for sft).
    #[arg(long, value_name = "N")]
    pub eval_interval: Option<usize>,
    /// Log (and append to train_log.jsonl) every N steps.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub log_interval: usize,
    /// Fraction held out for validation: the end of the text for train, whole conversations for sft.
    #[arg(long, default_value_t = 0.1, value_name = "X")]
    pub val_fraction: f32,
    /// Skip a step whose loss or gradient norm is NaN or infinite and halve the learning rate, instead of stopping. The run still stops at the sixth such step in a row.
    #[arg(long)]
    pub skip_nonfinite: bool,
}

/// The seed of a run started without --seed.
pub const DEFAULT_SEED: u64 = 1337;

/// The defaults of the options whose default depends on the command.
#[derive(Debug, Clone, Copy)]
pub struct TrainingDefaults {
    /// Default `--steps`.
    pub steps: usize,
    /// Default `--batch-size`.
    pub batch_size: usize,
    /// Default `--lr`.
    pub lr: f32,
    /// Default `--eval-interval`.
    pub eval_interval: usize,
}

/// [`TrainingOptions`] with every default filled in and every value checked.
#[derive(Debug, Clone)]
pub struct TrainingSettings {
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// Final learning rate of the cosine decay.
    pub min_lr: f32,
    /// Linear warm-up steps, at most `steps`.
    pub warmup_steps: usize,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Maximum global gradient norm; 0 disables clipping.
    pub grad_clip: f32,
    /// Random seed.
    pub seed: u64,
    /// Steps between evaluations.
    pub eval_interval: usize,
    /// Steps between step logs.
    pub log_interval: usize,
    /// Fraction held out for validation, in [0, 1).
    pub val_fraction: f32,
    /// Whether a non-finite step is skipped (with the learning rate halved) instead of stopping the run.
    pub skip_nonfinite: bool,
}

impl TrainingOptions {
    /// Fills the unset options from `defaults` and checks every value,
    /// naming the flag and the valid range when one is out of it.
    pub fn resolve(&self, defaults: TrainingDefaults) -> anyhow::Result<TrainingSettings> {
        let steps = self.steps.unwrap_or(defaults.steps);
        let batch_size = self.batch_size.unwrap_or(defaults.batch_size);
        let eval_interval = self.eval_interval.unwrap_or(defaults.eval_interval);
        let positive = [
            ("--steps", steps),
            ("--batch-size", batch_size),
            ("--eval-interval", eval_interval),
            ("--log-interval", self.log_interval),
        ];
        for (flag, value) in positive {
            if value == 0 {
                bail!("{flag} 0 is invalid; it must be at least 1");
            }
        }

        let lr = self.lr.unwrap_or(defaults.lr);
        if !(lr > 0.0 && lr.is_finite()) {
            bail!("--lr {lr} is invalid; it must be a positive number such as 1e-3");
        }
        let min_lr = self.min_lr.unwrap_or(lr / 10.0);
        if !(min_lr >= 0.0 && min_lr <= lr) {
            bail!("--min-lr {min_lr} is invalid; it must be between 0 and --lr ({lr})");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            bail!("--weight-decay {} is invalid; it must be ≥ 0", self.weight_decay);
        }
        if !(self.grad_clip >= 0.0 && self.grad_clip.is_finite()) {
            bail!("--grad-clip {} is invalid; it must be ≥ 0 (0 disables clipping)", self.grad_clip);
        }
        if !(self.val_fraction >= 0.0 && self.val_fraction < 1.0) {
            bail!("--val-fraction {} is invalid; it must be in [0, 1), such as 0.1", self.val_fraction);
        }

        let warmup_steps = self.warmup_steps.unwrap_or((steps / 10).min(100)).min(steps);
        Ok(TrainingSettings {
            steps,
            batch_size,
            lr,
            min_lr,
            warmup_steps,
            weight_decay: self.weight_decay,
            grad_clip: self.grad_clip,
            seed: self.seed.unwrap_or(DEFAULT_SEED),
            eval_interval,
            log_interval: self.log_interval,
            val_fraction: self.val_fraction,
            skip_nonfinite: self.skip_nonfinite,
        })
    }
}

impl TrainingSettings {
    /// Compiles `model` with AdamW (betas 0.9, 0.99, as nanoGPT uses for
    /// small models) and sparse categorical cross-entropy, which ignores
    /// targets of −1.
    pub fn compile(&self, model: &mut Model<Gpt>) -> anyhow::Result<()> {
        let optimizer = AdamW::new(self.lr, self.weight_decay).betas(0.9, 0.99);
        model.compile(Box::new(optimizer) as Box<dyn aigc_optim::Optimizer>, "sparse_categorical_crossentropy", &[])?;
        Ok(())
    }

    /// Builds the [`StepOptions`] of a run that writes into `out`: the
    /// warm-up + cosine schedule, clipping, `train_log.jsonl`, and a
    /// checkpoint (weights and training state) at each evaluation.
    pub fn step_options(&self, out: &Path) -> anyhow::Result<StepOptions> {
        let schedule = WarmupCosine::new(self.lr, self.min_lr, self.warmup_steps, self.steps)?;
        let mut options = StepOptions::new(self.steps)
            .eval_interval(self.eval_interval)
            .log_interval(self.log_interval)
            .schedule(schedule)
            .seed(self.seed)
            .callback(TrainLogWriter { log: TrainLog::open(&out.join(TRAIN_LOG_FILE))? })
            .checkpoint_dir(out)
            .skip_nonfinite(self.skip_nonfinite);
        if self.grad_clip > 0.0 {
            options = options.clip_grad_norm(self.grad_clip);
        }
        Ok(options)
    }
}

/// Appends each step log to `train_log.jsonl`, and logs each skipped step.
struct TrainLogWriter {
    log: TrainLog,
}

impl Callback for TrainLogWriter {
    fn on_step_end(&mut self, log: &StepLog, _: &[Parameter], _: &mut TrainingControl) -> aigc_train::Result<()> {
        self.log.append(&TrainLogEntry {
            step: log.step,
            loss: log.loss,
            lr: log.lr,
            tokens_per_s: log.tokens_per_s,
            val_loss: log.val_loss,
            grad_norm: Some(log.grad_norm),
        })
    }

    fn on_step_skipped(&mut self, skipped: &SkippedStep) -> aigc_train::Result<()> {
        tracing::warn!(
            "step {}: loss {}, gradient norm {}: skipped the update and halved the learning rate to {:.2e} ({} of {MAX_CONSECUTIVE_SKIPS} skips in a row allowed)",
            skipped.step,
            skipped.loss,
            skipped.grad_norm,
            skipped.lr,
            skipped.consecutive
        );
        Ok(())
    }
}

/// Creates the output directory; rejects a path that exists and is not a directory.
fn prepare_out_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("--out {} exists and is not a directory; choose a directory path", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("could not create --out directory {}", dir.display()))?;
    Ok(())
}

/// Creates the output directory of a training run, refusing to overwrite a
/// model that is already there unless the run continues it (`resume` is the
/// same directory), so that a repeated command never replaces a finished run.
pub fn prepare_run_dir(dir: &Path, resume: Option<&Path>) -> anyhow::Result<()> {
    let continues_here = resume.is_some_and(|resume| same_dir(resume, dir));
    let existing = [checkpoint::WEIGHTS_FILE, checkpoint::TRAINING_STATE_FILE]
        .into_iter()
        .find(|file| dir.join(file).exists());
    if let (Some(file), false) = (existing, continues_here) {
        bail!(
            "--out {dir} already contains a model ({file}); continue that run with --resume {dir}, \
             or choose another --out (or delete {dir}) to start a new one",
            dir = dir.display()
        );
    }
    prepare_out_dir(dir)
}

/// Returns whether two paths name the same directory (compared canonically when both exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
