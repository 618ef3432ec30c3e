//! Command-line parsing and dispatch.

mod allocator;
mod bench;
mod chat;
mod common;
mod demo;
mod eval;
mod generate;
mod precision;
mod resume;
mod serve;
mod sft;
mod tokenizer;
mod train;
mod training;

use clap::{Parser, Subcommand};

pub use common::init_logging;

/// aigc: train a GPT on text and sample from it, on the CPU.
#[derive(Debug, Parser)]
#[command(name = "aigc", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads for tensor operations (default: RAYON_NUM_THREADS, else all cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    /// Arithmetic of matrix products: f32, or bf16 (operands rounded to
    /// bfloat16, sums and everything else in f32; needs AVX-512 BF16).
    #[arg(long, global = true, value_enum, value_name = "PRECISION")]
    pub precision: Option<precision::Precision>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a byte-level BPE tokenizer, or measure how one encodes a file.
    Tokenizer(tokenizer::TokenizerArgs),
    /// Train a GPT on a UTF-8 text file and save it to a model directory.
    Train(train::TrainArgs),
    /// Fine-tune a pretrained BPE model on conversations, learning the assistant replies.
    Sft(sft::SftArgs),
    /// Generate text from a trained model.
    Generate(generate::GenerateArgs),
    /// Report loss, perplexity and bits per byte on the validation split of a text file.
    Eval(eval::EvalArgs),
    /// Measure training or generation tokens/s on random tokens; prints one JSON line.
    Bench(bench::BenchArgs),
    /// Chat with a model: one reply with --prompt, else a multi-turn session on stdin.
    Chat(chat::ChatArgs),
    /// Train a small bilingual chat model on a built-in corpus in minutes, then chat with it.
    Demo(demo::DemoArgs),
    /// Serve a chat model over the OpenAI Chat Completions API, with a web chat page at /.
    Serve(serve::ServeArgs),
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    allocator::keep_freed_memory();
    common::configure_threads(cli.threads)?;
    precision::configure_precision(cli.precision)?;
    match cli.command {
        Command::Tokenizer(args) => tokenizer::run(args),
        Command::Train(args) => train::run(args),
        Command::Sft(args) => sft::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Chat(args) => chat::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
