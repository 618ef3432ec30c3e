//! Stopping and resuming runs of `aigc train` and `aigc sft`: loading the
//! checkpoint of `--resume DIR`, trimming the step log, the Ctrl-C handler,
//! and a divergence message worded in command-line flags.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use aigc_gpt::Gpt;
use aigc_nn::Module;
use aigc_tensor::gemm::MatmulPrecision;
use aigc_tokenizer::Tokenizer;
use aigc_train::checkpoint::{self, ModelConfigFile, TrainingState};
use aigc_train::{BatchSource, History, Model, TrainError};

use super::precision::{precision_chosen, set_precision};
use super::training::TrainingSettings;

/// The checkpoint of `--resume DIR`: the model with its saved weights, the
/// directory's config and tokenizer, and the training state.
pub struct Resume {
    /// The network, holding the checkpoint's weights.
    pub net: Gpt,
    /// The directory's `config.json`.
    pub config: ModelConfigFile,
    /// The BPE tokenizer, `None` for a byte-level model.
    pub tokenizer: Option<Tokenizer>,
    /// The training state the run continues from.
    pub state: TrainingState,
}

/// Loads the checkpoint in `dir` after finishing or undoing a checkpoint
/// write that a crash interrupted. Continues at the checkpoint's precision
/// unless `--precision` chose one, and warns when the precision or the
/// dropout stream cannot be reproduced exactly.
pub fn load_resume(dir: &Path) -> anyhow::Result<Resume> {
    if !dir.is_dir() {
        bail!("--resume {} not found; give the --out directory of the run to continue", dir.display());
    }
    checkpoint::recover_checkpoint(dir)?;
    let config = checkpoint::read_config(dir)?;
    let tokenizer = checkpoint::load_tokenizer(dir, &config)?;
    let net = Gpt::new(config.config.clone())?;
    let state = checkpoint::load_checkpoint(dir, &net.parameters())?;
    match_precision(&state, dir)?;
    warn_if_inexact(&state, &config);
    Ok(Resume { net, config, tokenizer, state })
}

/// Switches to the precision the checkpoint was trained at, as the seed
/// comes from the checkpoint too. When `--precision` or `AIGC_GEMM` chose
/// another one, keeps that and warns.
fn match_precision(state: &TrainingState, dir: &Path) -> anyhow::Result<()> {
    let Some(saved) = state.precision.as_deref() else { return Ok(()) };
    let current = aigc_tensor::gemm::matmul_precision().name();
    if saved == current {
        return Ok(());
    }
    if precision_chosen() {
        tracing::warn!(
            "the checkpoint was trained at --precision {saved} and this run uses {current}, so the losses will differ from an uninterrupted run; pass --precision {saved} to match"
        );
        return Ok(());
    }
    let precision: MatmulPrecision = saved
        .parse()
        .with_context(|| format!("the training state in {} names an unknown precision", dir.display()))?;
    set_precision(precision, "pass --precision f32 to continue the run in f32")?;
    tracing::info!("continuing at --precision {saved}, the checkpoint's precision");
    Ok(())
}

/// Warns about what makes the resumed losses differ from an uninterrupted run's.
fn warn_if_inexact(state: &TrainingState, config: &ModelConfigFile) {
    if state.generators.is_none() && config.config.dropout > 0.0 {
        tracing::warn!(
            "the checkpoint was written by an older aigc that did not save the dropout generators, so dropout masks start afresh and the losses will differ from an uninterrupted run"
        );
    }
}

/// Fails when `--seed` was given and differs from the seed of the run
/// being resumed, which the resumed run keeps.
pub fn check_seed(given: Option<u64>, state: &TrainingState, dir: &Path) -> anyhow::Result<()> {
    match given {
        Some(seed) if seed != state.seed => bail!(
            "--seed {seed} differs from the seed of the checkpoint in {} ({}); leave out --seed when resuming, or start a new run in another --out directory",
            dir.display(),
            state.seed
        ),
        _ => Ok(()),
    }
}

/// Drops the lines of `train_log.jsonl` after `step`: those a crash after
/// the last checkpoint left behind, which the resumed run logs again.
pub fn truncate_train_log(path: &Path, step: u64) -> anyhow::Result<()> {
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

/// Installs the Ctrl-C and SIGTERM handler. The first signal sets the
/// returned flag, so training saves a checkpoint and stops after the current
/// step. A second one exits at once with status 130.
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

/// Logs where an interrupted run saved its checkpoint and how to continue it.
fn report_interrupt(out: &Path) -> anyhow::Result<()> {
    let saved = checkpoint::read_training_state(out)?.map_or(0, |state| state.step);
    tracing::info!(
        "interrupted: checkpoint of step {saved} saved to {}; continue with the same command and --resume {}",
        out.display(),
        out.display()
    );
    Ok(())
}

/// Compiles `model` with `settings` and trains it on `batches`, writing
/// checkpoints to `out` and continuing from `resume` when given.
///
/// Returns the history and the training time in seconds, or `None` when
/// Ctrl-C or SIGTERM stopped the run, after logging where the checkpoint of
/// the last finished step was saved.
pub fn fit_with_interrupts(
    model: &mut Model<Gpt>,
    batches: &mut dyn BatchSource,
    settings: &TrainingSettings,
    out: &Path,
    checkpoint_interval: Option<usize>,
    resume: Option<TrainingState>,
) -> anyhow::Result<Option<(History, f64)>> {
    settings.compile(model)?;
    let interrupted = install_interrupt_handler()?;
    let mut options = settings.step_options(out)?.stop_flag(Arc::clone(&interrupted));
    if let Some(interval) = checkpoint_interval {
        options = options.checkpoint_interval(interval);
    }
    if let Some(state) = resume {
        if state.step >= settings.steps as u64 {
            bail!(
                "--steps {}: the checkpoint in {} is already at step {}; pass a larger --steps to continue the run",
                settings.steps,
                out.display(),
                state.step
            );
        }
        options = options.resume_from(state);
    }

    let started = std::time::Instant::now();
    let history = model.fit_batches(batches, options).map_err(|e| explain_divergence(e, settings))?;
    let seconds = started.elapsed().as_secs_f64();
    if interrupted.load(Ordering::SeqCst) && history.stopped_early() {
        report_interrupt(out)?;
        return Ok(None);
    }
    Ok(Some((history, seconds)))
}

/// Rewords a [`TrainError::Diverged`] in the command's flags (`--lr`,
/// `--grad-clip`, `--skip-nonfinite`, `--resume`); other errors pass through.
fn explain_divergence(error: TrainError, settings: &TrainingSettings) -> anyhow::Error {
    let TrainError::Diverged { step, loss, grad_norm, skipped, last_checkpoint, .. } = &error else {
        return error.into();
    };
    let clip = if settings.grad_clip > 0.0 {
        format!("a lower --grad-clip (now {})", settings.grad_clip)
    } else {
        "--grad-clip 1".to_string()
    };
    let skip = if settings.skip_nonfinite { "" } else { ", or with --skip-nonfinite" };
    let skipped = match skipped {
        0 => String::new(),
        n => format!(", after --skip-nonfinite skipped {n} non-finite steps in a row and halved the learning rate at each"),
    };
    let advice = match last_checkpoint {
        Some((saved, dir)) => format!(
            "the last good checkpoint is step {saved} in {}; resume from it with --resume {} and a lower --lr or {clip}{skip}",
            dir.display(),
            dir.display()
        ),
        None => format!("run again with a lower --lr or {clip}{skip}"),
    };
    anyhow::anyhow!("training diverged at step {step}: loss {loss}, gradient norm {grad_norm}{skipped}; {advice}")
}
