//! `aigc demo` (also plain `aigc`): the whole pipeline in a few minutes on a
//! CPU. It writes a bilingual chat corpus, trains a BPE tokenizer and a
//! small GPT on it until the model has memorised it, saves the model
//! directory, and opens a chat.

mod corpus;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use aigc_gpt::{ChatOptions, ChatSession, Gpt, GptConfig, SamplingConfig};
use aigc_optim::{AdamW, WarmupCosine};
use aigc_tokenizer::Tokenizer;
use aigc_train::chat_dataset::ConversationDataset;
use aigc_train::checkpoint::{save_gpt, save_tokenizer, TOKENIZER_FILE};
use aigc_train::{Model, StepOptions};
use clap::Args;

use super::chat::{repl, GenerationArgs};
use corpus::Exchange;

/// File name of the corpus in the output directory: one exchange per line, as chat JSONL.
pub const CORPUS_FILE: &str = "demo_corpus.jsonl";
/// File name of the training conversations in the output directory, as chat JSONL.
pub const TRAINING_FILE: &str = "demo_train.jsonl";

/// Seed of the conversation order, the model initialisation and the batches.
const SEED: u64 = 1337;
/// Requested BPE vocabulary, special and byte tokens included.
const VOCAB_SIZE: usize = 1024;
/// Conversations per optimizer step.
const BATCH_SIZE: usize = 12;
/// Shuffles of the exchanges cut into training conversations.
const ROUNDS: usize = 12;
/// Optimizer steps.
const STEPS: usize = 1000;
/// Steps between progress lines, and the span of the reported final loss.
const LOG_INTERVAL: usize = 100;
/// Peak learning rate of the warm-up + cosine schedule.
const LEARNING_RATE: f32 = 3e-3;

/// Returns the demo model's shape, small enough to memorise the corpus in minutes on two cores.
fn model_config(vocab_size: usize) -> GptConfig {
    GptConfig { vocab_size, n_layer: 2, n_head: 4, n_embd: 128, block_size: 128, dropout: 0.0, bias: true }
}

/// Arguments of `aigc demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory to write the corpus, tokenizer and model to.
    #[arg(long, default_value = "runs/demo", value_name = "DIR")]
    pub out: PathBuf,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs { out: PathBuf::from("runs/demo") }
    }
}

/// Runs `aigc demo`: train, save, check, then chat when stdin is a terminal.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    prepare_out_dir(&args.out)?;

    // 1. The corpus, written out so users can see what the model learns.
    let exchanges = corpus::exchanges();
    let conversations = corpus::conversations(&exchanges, ROUNDS, SEED);
    let singles: Vec<_> = exchanges.iter().map(Exchange::to_conversation).collect();
    write_file(&args.out.join(CORPUS_FILE), &corpus::to_jsonl(&singles))?;
    write_file(&args.out.join(TRAINING_FILE), &corpus::to_jsonl(&conversations))?;
    tracing::info!(
        "wrote {} exchanges to {} and {} training conversations of 1 to {} turns to {}",
        exchanges.len(),
        CORPUS_FILE,
        conversations.len(),
        corpus::MAX_TURNS,
        TRAINING_FILE
    );

    // 2. The tokenizer, trained on every message.
    let texts: Vec<&str> = exchanges.iter().flat_map(|e| [e.user.as_str(), e.assistant.as_str()]).collect();
    let tokenizer = Tokenizer::train_from_texts(&texts, VOCAB_SIZE)?;
    tracing::info!("trained a BPE tokenizer with {} tokens", tokenizer.vocab_size());

    // 3. The model, with the Keras-style API: compile, then fit on batches.
    let config = model_config(tokenizer.vocab_size());
    let mut dataset = ConversationDataset::new(&tokenizer, &conversations, config.block_size, BATCH_SIZE, 0.0, SEED)?;
    let mut model = Model::from(Gpt::with_seed(config.clone(), SEED)?);
    tracing::info!(
        "training a GPT with {} parameters (n_layer {}, n_head {}, n_embd {}, block_size {}) for {STEPS} steps",
        model.num_parameters(),
        config.n_layer,
        config.n_head,
        config.n_embd,
        config.block_size
    );
    let optimizer = AdamW::new(LEARNING_RATE, 0.0).betas(0.9, 0.99);
    model.compile(Box::new(optimizer) as Box<dyn aigc_optim::Optimizer>, "sparse_categorical_crossentropy", &[])?;
    let schedule = WarmupCosine::new(LEARNING_RATE, LEARNING_RATE / 10.0, STEPS / 20, STEPS)?;
    let options = StepOptions::new(STEPS)
        .eval_interval(LOG_INTERVAL)
        .log_interval(LOG_INTERVAL)
        .schedule(schedule)
        .clip_grad_norm(1.0)
        .seed(SEED);
    let history = model.fit_batches(&mut dataset, options)?;
    let last_loss = history.get("loss").and_then(|losses| losses.last().copied()).unwrap_or(f32::NAN);

    // 4. The model directory: the tokenizer first, so config.json never names a missing file.
    save_tokenizer(&args.out, &tokenizer)?;
    save_gpt(&args.out, model.net(), TOKENIZER_FILE, None)?;
    tracing::info!(
        "trained in {:.0} s (mean loss of the last {LOG_INTERVAL} steps {last_loss:.4}); saved to {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );

    // 5. How much of the corpus the model reproduces with greedy decoding.
    report_memorised(model.net(), &tokenizer, &exchanges)?;

    // 6. Chat, when someone is at the keyboard.
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let mut session = ChatSession::new(model.net(), &tokenizer, GenerationArgs::default().chat_options()?)?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "Try: hello, what is aigc?, what is the KV cache?, 你好, 怎么训练模型？")?;
        repl(&mut session, &args.out, stdin.lock(), &mut stdout, true)?;
    }
    println!("To chat with this model again: aigc chat --model {}", args.out.display());
    Ok(())
}

/// Logs how many corpus questions get their corpus answer under greedy
/// decoding, asked first and asked after one or two other exchanges.
fn report_memorised(model: &Gpt, tokenizer: &Tokenizer, exchanges: &[Exchange]) -> anyhow::Result<()> {
    let options = ChatOptions { sampling: SamplingConfig::greedy(), max_tokens: 64, ..ChatOptions::default() };
    let mut session = ChatSession::new(model, tokenizer, options)?;
    let mut first_turn = Vec::new();
    let mut later_turn = [0usize; 2];
    for (index, exchange) in exchanges.iter().enumerate() {
        session.reset();
        if session.send(&exchange.user, |_| {})?.text == exchange.assistant {
            first_turn.push(exchange);
        }
        // Fixed earlier turns, mostly unseen together: the model has to answer the latest question.
        for (earlier, matched) in later_turn.iter_mut().enumerate() {
            session.reset();
            for step in 0..=earlier {
                session.send(&exchanges[(index * 7 + 3 + 11 * step) % exchanges.len()].user, |_| {})?;
            }
            *matched += usize::from(session.send(&exchange.user, |_| {})?.text == exchange.assistant);
        }
    }
    tracing::info!(
        "greedy replies match {} of {} corpus answers as a first turn, {} after one other exchange, {} after two",
        first_turn.len(),
        exchanges.len(),
        later_turn[0],
        later_turn[1]
    );
    for exchange in exchanges.iter().filter(|e| !first_turn.contains(e)).take(3) {
        tracing::info!("not memorised: {:?} → {:?}", exchange.user, exchange.assistant);
    }
    Ok(())
}

fn write_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("could not write {}", path.display()))
}

/// Creates the output directory; refuses a path that exists and is not a directory.
fn prepare_out_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("--out {} exists and is not a directory; choose a directory path", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("could not create --out directory {}", dir.display()))
}
