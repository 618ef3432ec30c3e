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
            eprintln!("error: {}", error_message(&error));
            ExitCode::FAILURE
        }
    }
}

/// Joins the error and its causes with ": ", leaving out a cause whose text
/// the message already contains. Many library errors put their source's
/// text in their own message and also return it as `source()`, so `{:#}`
/// would print an OS error such as "No such file or directory" twice.
fn error_message(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}
