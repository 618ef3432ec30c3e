//! The `aigc` command line: train, evaluate, sample and chat with GPT models.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Plain `aigc` runs the demo, so `cargo run --release` on a fresh clone
    // shows the whole pipeline: corpus, tokenizer, training, chat.
    let args = if std::env::args_os().len() <= 1 { cli::Cli::parse_from(["aigc", "demo"]) } else { cli::Cli::parse() };
    cli::init_logging();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
