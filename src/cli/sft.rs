//! `aigc sft`: supervised fine-tuning of a pretrained BPE model on
//! conversations, with the loss on assistant replies only.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use aigc_gpt::{Gpt, GptConfig, SamplingConfig};
use aigc_tensor::Rng;
use aigc_tokenizer::{load_conversations, ChatTemplate, Conversation, Role, Tokenizer};
use aigc_train::chat_dataset::ConversationDataset;
use aigc_train::checkpoint::{save_tokenizer, write_atomic, write_model_config, TOKENIZER_FILE};
use aigc_train::Model;
use clap::Args;
use serde::Serialize;

use super::common::load_model;
use super::resume::{check_seed, fit_with_interrupts, load_resume, truncate_train_log, Resume};
use super::training::{prepare_run_dir, TrainingDefaults, TrainingOptions, TRAIN_LOG_FILE};

/// The defaults of `aigc sft`: a lower peak rate than pretraining, so the
/// model keeps what it learned, and a short run.
const SFT_DEFAULTS: TrainingDefaults = TrainingDefaults { steps: 300, batch_size: 16, lr: 3e-4, eval_interval: 100 };

/// File name of the fine-tuning report in the output directory.
pub const SFT_REPORT_FILE: &str = "sft_report.json";

/// File name of the held-out conversations, in the JSONL chat format, in the output directory.
pub const HELDOUT_FILE: &str = "heldout.jsonl";

/// The number of skipped conversations listed one by one before the rest are only counted.
const MAX_SKIPPED_LISTED: usize = 10;

/// Arguments of `aigc sft`.
#[derive(Debug, Args)]
pub struct SftArgs {
    /// Pretrained model directory with a tokenizer.json (from `aigc train --tokenizer`).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Conversations: a .jsonl file (OpenAI chat format), a chatterbot .yml/.yaml file, or a folder of them.
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Directory to write the fine-tuned model (with training_state.bin for --resume), sft_report.json and heldout.jsonl to. It must differ from --model, and it may contain a model only when --resume names it.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Held-out prompts to answer after training, shown and saved in the report.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub samples: usize,
    /// Maximum tokens of each sample reply.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub sample_tokens: usize,
    /// Continue the fine-tuning run checkpointed in DIR (usually its --out) up to --steps; give the --model, --data and options of the run that wrote it.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub training: TrainingOptions,
}

/// The contents of `sft_report.json`.
#[derive(Debug, Serialize)]
struct SftReport {
    base_model: String,
    data: String,
    conversations: usize,
    skipped: usize,
    without_reply: usize,
    /// Extra copies of held-out conversations, used for neither training nor validation.
    heldout_copies: usize,
    train_conversations: usize,
    heldout_conversations: usize,
    train_sequences: usize,
    heldout_sequences: usize,
    /// Assistant tokens in the held-out conversations: what the losses average over.
    heldout_assistant_tokens: usize,
    /// Mean cross-entropy per held-out assistant token before fine-tuning, in nats.
    heldout_loss_before: Option<f32>,
    /// The same after fine-tuning.
    heldout_loss_after: Option<f32>,
    steps: usize,
    seconds: f64,
    samples: Vec<SampleReply>,
}

/// A held-out prompt with the corpus reply and the model's greedy reply.
#[derive(Debug, Serialize)]
struct SampleReply {
    prompt: String,
    reference: String,
    reply: String,
}

/// Runs `aigc sft`.
pub fn run(args: SftArgs) -> anyhow::Result<()> {
    let settings = args.training.resolve(SFT_DEFAULTS)?;
    if args.sample_tokens == 0 {
        bail!("--sample-tokens 0 is invalid; it must be at least 1");
    }
    check_distinct_dirs(&args.model, &args.out, "--out", "write the fine-tuned model to a new directory")?;
    if let Some(dir) = &args.resume {
        check_distinct_dirs(&args.model, dir, "--resume", "give the --out directory of the fine-tuning run to continue")?;
    }

    let base = load_model(&args.model)?;
    let Some(tokenizer) = base.tokenizer else {
        bail!(
            "{} is a byte-level model (config.json has \"tokenizer\": \"bytes\"), which has no chat tokens to fine-tune on; \
             pretrain a BPE model first: `aigc tokenizer train --data FILE --vocab-size N --out tokenizer.json`, \
             then `aigc train --tokenizer tokenizer.json --data FILE --out DIR`",
            args.model.display()
        );
    };
    let resume = match &args.resume {
        Some(dir) => Some(load_sft_resume(dir, &args.model, &base.gpt.config, args.training.seed)?),
        None => None,
    };
    // A resumed run splits the conversations with the seed it started from.
    let seed = resume.as_ref().map_or(settings.seed, |resume| resume.state.seed);
    let (conversations, skipped) = read_conversations(&args.data)?;
    let block_size = base.gpt.config.block_size;
    let mut dataset =
        ConversationDataset::new(&tokenizer, &conversations, block_size, settings.batch_size, settings.val_fraction, seed)
            .with_context(|| format!("cannot fine-tune on {}", args.data.display()))?;
    if dataset.without_reply() > 0 {
        tracing::warn!("left out {} conversations that have no assistant message", dataset.without_reply());
    }
    prepare_run_dir(&args.out, args.resume.as_deref())?;
    write_heldout(&args.out.join(HELDOUT_FILE), dataset.heldout_conversations())?;
    // The tokenizer and config go first, so every checkpoint is a complete
    // model directory that --resume can continue.
    save_tokenizer(&args.out, &tokenizer)?;
    write_model_config(&args.out, &base.gpt.config, TOKENIZER_FILE)?;
    let start = resume.as_ref().map_or(0, |resume| resume.state.step);
    truncate_train_log(&args.out.join(TRAIN_LOG_FILE), start)?;

    // The loss before fine-tuning is the base model's, also when resuming.
    let before = measure(&dataset, &base.gpt)?;
    let (net, state) = match resume {
        Some(resume) => (resume.net, Some(resume.state)),
        None => (base.gpt, None),
    };
    let mut model = Model::from(net);
    tracing::info!(
        train_conversations = dataset.train_conversations(),
        heldout_conversations = dataset.heldout_conversations().len(),
        heldout_copies = dataset.heldout_copies(),
        train_sequences = dataset.train_len(),
        precision = %super::precision::current_precision(),
        "fine-tuning {} on {} (block_size {}); held-out assistant-token loss before: {}{}",
        args.model.display(),
        args.data.display(),
        block_size,
        format_loss(before),
        if start > 0 { format!("; resuming at step {start}") } else { String::new() }
    );

    let Some((_history, seconds)) = fit_with_interrupts(&mut model, &mut dataset, &settings, &args.out, None, state)? else {
        return Ok(());
    };
    // fit_batches saved the last step as a checkpoint (weights and training
    // state), so a finished run can be extended with --resume and more --steps.
    let after = measure(&dataset, model.net())?;

    let samples = sample_replies(model.net(), &tokenizer, dataset.heldout_conversations(), args.samples, args.sample_tokens)?;
    let report = SftReport {
        base_model: args.model.display().to_string(),
        data: args.data.display().to_string(),
        conversations: conversations.len(),
        skipped,
        without_reply: dataset.without_reply(),
        heldout_copies: dataset.heldout_copies(),
        train_conversations: dataset.train_conversations(),
        heldout_conversations: dataset.heldout_conversations().len(),
        train_sequences: dataset.train_len(),
        heldout_sequences: dataset.val_len(),
        heldout_assistant_tokens: before.map_or(0, |(_, tokens)| tokens),
        heldout_loss_before: before.map(|(loss, _)| loss),
        heldout_loss_after: after.map(|(loss, _)| loss),
        steps: settings.steps,
        seconds,
        samples,
    };
    let json = serde_json::to_vec_pretty(&report)?;
    write_atomic(&args.out.join(SFT_REPORT_FILE), &json)?;

    for sample in &report.samples {
        // Escaped, so a reply full of newlines stays on one line.
        eprintln!(
            "prompt: {}\n  reference: {}\n  reply:     {}",
            sample.prompt.escape_debug(),
            sample.reference.escape_debug(),
            sample.reply.escape_debug()
        );
    }
    tracing::info!(
        "done: {} steps in {seconds:.1} s; held-out assistant-token loss {} -> {} nats over {} tokens; saved to {}",
        settings.steps as u64 - start,
        format_loss(before),
        format_loss(after),
        report.heldout_assistant_tokens,
        args.out.display()
    );
    // stdout gets the report without the samples, as one JSON line. Going
    // through the JSON text keeps the f32 values as short as in the file.
    let mut summary: serde_json::Value = serde_json::from_slice(&json)?;
    if let Some(fields) = summary.as_object_mut() {
        fields.remove("samples");
    }
    println!("{summary}");
    Ok(())
}

/// Rejects a directory given to `flag` that is the base model's. As --out,
/// the checkpoints would overwrite the pretrained weights. As --resume, the
/// run would continue the pretraining run instead of the fine-tuning one.
fn check_distinct_dirs(model: &Path, dir: &Path, flag: &str, advice: &str) -> anyhow::Result<()> {
    let same = match (model.canonicalize(), dir.canonicalize()) {
        (Ok(model), Ok(dir)) => model == dir,
        _ => false,
    };
    if same {
        bail!("{flag} {} is the --model directory; {advice}", dir.display());
    }
    Ok(())
}

/// Loads the checkpoint of `--resume DIR` and checks that it fine-tunes the
/// model of `--model`: the same config, and `--seed` left out or equal to the run's.
fn load_sft_resume(dir: &Path, model: &Path, base: &GptConfig, seed: Option<u64>) -> anyhow::Result<Resume> {
    let resume = load_resume(dir)?;
    if resume.config.config != *base {
        bail!(
            "--resume {} contains a model with another config than --model {} ({:?} against {:?}); give the --model the fine-tuning run started from",
            dir.display(),
            model.display(),
            resume.config.config,
            base
        );
    }
    if resume.config.tokenizer != TOKENIZER_FILE {
        bail!("--resume {} holds a byte-level model, which aigc sft never writes; give the --out directory of a fine-tuning run", dir.display());
    }
    check_seed(seed, &resume.state, dir)?;
    Ok(resume)
}

/// Writes conversations as JSONL chat records, so the held-out ones can be
/// inspected, chatted with, or kept out of a pretraining corpus.
fn write_heldout(path: &Path, conversations: &[Conversation]) -> anyhow::Result<()> {
    let mut jsonl = String::new();
    for conversation in conversations {
        let messages: Vec<serde_json::Value> = conversation
            .iter()
            .map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        jsonl.push_str(&serde_json::json!({ "messages": messages }).to_string());
        jsonl.push('\n');
    }
    write_atomic(path, jsonl.as_bytes())?;
    Ok(())
}

/// Loads the conversations under `path`, logging each skipped one with its
/// file and line. Returns the conversations and the number skipped.
fn read_conversations(path: &Path) -> anyhow::Result<(Vec<Conversation>, usize)> {
    let loaded = load_conversations(path)?;
    for problem in loaded.skipped.iter().take(MAX_SKIPPED_LISTED) {
        tracing::warn!("skipped a conversation: {problem}");
    }
    if loaded.skipped.len() > MAX_SKIPPED_LISTED {
        tracing::warn!("skipped {} more conversations", loaded.skipped.len() - MAX_SKIPPED_LISTED);
    }
    Ok((loaded.conversations, loaded.skipped.len()))
}

/// Measures the held-out loss and its token count; returns `None` when nothing is held out.
fn measure(dataset: &ConversationDataset, net: &Gpt) -> anyhow::Result<Option<(f32, usize)>> {
    if dataset.val_len() == 0 {
        return Ok(None);
    }
    let heldout = dataset.heldout_loss(net)?;
    Ok(Some((heldout.loss, heldout.tokens)))
}

fn format_loss(measured: Option<(f32, usize)>) -> String {
    measured.map_or_else(|| "n/a (nothing held out)".to_string(), |(loss, _)| format!("{loss:.4}"))
}

/// Answers `count` held-out conversations, spread evenly over them, greedily.
/// The prompt is everything before a conversation's last assistant message,
/// and that message is the reference reply.
fn sample_replies(
    net: &Gpt,
    tokenizer: &Tokenizer,
    heldout: &[Conversation],
    count: usize,
    max_tokens: usize,
) -> anyhow::Result<Vec<SampleReply>> {
    let template = ChatTemplate::new(tokenizer);
    let sampling = SamplingConfig::greedy();
    let mut rng = Rng::seed(0);
    let mut samples = Vec::new();
    let count = count.min(heldout.len());
    // Evenly spaced, so that a corpus read file by file shows more than its first file.
    let chosen = (0..count).map(|i| &heldout[i * heldout.len() / count]);
    for conversation in chosen {
        let Some(last_reply) = conversation.iter().rposition(|m| m.role == Role::Assistant) else { continue };
        let context = &conversation[..last_reply];
        let prompt_ids = template.render_prompt(context)?;
        let mut reply_ids = net.generate(&prompt_ids, max_tokens, &sampling, &[tokenizer.end_id()], &mut rng)?;
        if reply_ids.last() == Some(&tokenizer.end_id()) {
            reply_ids.pop();
        }
        let prompt = context.iter().map(|m| format!("{}: {}", m.role, m.content)).collect::<Vec<_>>().join(" | ");
        samples.push(SampleReply {
            prompt,
            reference: conversation[last_reply].content.clone(),
            reply: tokenizer.decode(&reply_ids)?,
        });
    }
    Ok(samples)
}
