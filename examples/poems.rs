//! Train a small GPT on 300 Tang poems and write new poems from a title.
//!
//! ```text
//! AIGC_DATA=../shared/data cargo run --release --example poems [-- TITLE [STEPS]]
//! ```
//!
//! The corpus is `$AIGC_DATA/tang300.txt`: each poem is a title line
//! `《…》`, an author line and the verses, and a line holding `%` separates
//! poems. The model learns that layout, so a prompt of `《TITLE》` and a
//! newline makes it write an author line and verses.
//!
//! The text is tokenized with byte-level BPE trained on the poems rather
//! than byte by byte. A Chinese character is three UTF-8 bytes, so a
//! byte-level model spends three positions, and two predictions that are
//! not a character yet, on each one. BPE gives most characters of the
//! corpus a token of their own, so the same context length covers three
//! times as much poem and every prediction is a whole character or more.
//!
//! The defaults (600 steps of 16 × 64 tokens with the tiny preset) took
//! about two minutes of CPU time on a two-core x86-64 machine. 300 poems are
//! about 30 000 tokens, so training goes over each poem about 20 times, and
//! the new verses borrow heavily from the corpus.

use std::path::PathBuf;

use aigc::gpt::{GptConfig, SamplingConfig};
use aigc::models::ChatGPT;
use aigc::optimizers::{AdamW, Optimizer, WarmupCosine};
use aigc::tokenizer::Tokenizer;
use aigc::train::datasets::data_dir;
use aigc::train::lm_dataset::{read_text_file, TextDataset};
use aigc::train::StepOptions;
use aigc::Rng;

/// The title used when none is given.
const DEFAULT_TITLE: &str = "春夜";
/// Vocabulary size of the BPE tokenizer: the 262 byte and special tokens,
/// plus merges for most characters that occur at least twice.
const VOCAB_SIZE: usize = 2048;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let title = std::env::args().nth(1).unwrap_or_else(|| DEFAULT_TITLE.to_string());
    let steps: usize = match std::env::args().nth(2) {
        Some(arg) => arg.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("STEPS must be a positive integer, got {arg:?}"))?,
        None => 600,
    };
    let dir = data_dir().ok_or("set AIGC_DATA to the folder that holds tang300.txt, such as ../shared/data")?;
    let path: PathBuf = dir.join("tang300.txt");
    let text = read_text_file(&path)?;

    let poems: Vec<&str> = text.split("%\n").collect();
    let tokenizer = Tokenizer::train_from_texts(&poems, VOCAB_SIZE)?;
    let ids = tokenizer.encode(&text)?;
    println!("{} poems, {} characters, {} tokens (vocabulary {})", poems.len(), text.chars().count(), ids.len(), tokenizer.vocab_size());

    let config = GptConfig::tiny().with_vocab_size(tokenizer.vocab_size()).with_block_size(64).with_dropout(0.1);
    let mut data = TextDataset::new(ids, config.block_size, 16, 0.05)?;
    let mut model = ChatGPT::try_new(config)?;
    let optimizer: Box<dyn Optimizer> = Box::new(AdamW::new(1e-3, 0.1).betas(0.9, 0.99));
    model.compile(optimizer, "sparse_categorical_crossentropy", &[])?;
    let options = StepOptions::new(steps)
        .eval_interval(200.min(steps))
        .log_interval(50)
        .schedule(WarmupCosine::new(1e-3, 1e-4, (steps / 10).min(100), steps)?)
        .clip_grad_norm(1.0)
        .seed(1337);
    let history = model.fit_batches(&mut data, options)?;
    if let Some(val_loss) = history.get("val_loss").and_then(|v| v.last()) {
        println!("validation loss: {val_loss:.3} nats per token");
    }

    // Three poems for the title; each stops at the `%` line that ends a poem.
    let prompt = format!("《{title}》\n");
    let prompt_ids = tokenizer.encode(&prompt)?;
    let sampling = SamplingConfig { temperature: 0.8, top_k: Some(40), top_p: None, repetition_penalty: 1.0 };
    let mut rng = Rng::seed(42);
    for _ in 0..3 {
        let generated = model.generate(&prompt_ids, 120, &sampling, &[], &mut rng)?;
        let poem = tokenizer.decode(&generated)?;
        let poem = poem.split('%').next().unwrap_or_default().trim_end();
        println!("----\n{prompt}{poem}");
    }
    Ok(())
}
