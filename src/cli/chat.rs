//! `aigc chat`: talk to a chat model, one reply at a time or in a
//! multi-turn session on stdin.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use aigc_gpt::{ChatOptions, ChatReply, ChatSession, FinishReason, Gpt, Quantization, SamplingConfig};
use aigc_nn::Module;
use aigc_tokenizer::Tokenizer;
use clap::Args;

use super::common::{load_model, parse_quantization};

/// Arguments of `aigc chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Model directory with config.json, model.safetensors and tokenizer.json
    /// (written by `aigc sft` or `aigc demo`).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Send this one message, print the reply and exit, instead of reading messages from stdin.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// System message placed before the conversation; it is never dropped from the context.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    #[command(flatten)]
    pub generation: GenerationArgs,
}

/// Sampling and reply options of `aigc chat`, shared with the chat that
/// `aigc demo` opens.
#[derive(Debug, Clone, Args)]
pub struct GenerationArgs {
    /// Sampling temperature; 0 is greedy (always the most likely token).
    #[arg(long, default_value_t = 0.8, value_name = "X")]
    pub temperature: f32,
    /// Sample only among the N most likely tokens; 0 turns the limit off.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub top_k: usize,
    /// Nucleus sampling: keep the most likely tokens up to this total probability, in (0, 1].
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,
    /// Divide the logits of tokens already in the context by this factor; 1 turns it off.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub repetition_penalty: f32,
    /// Maximum tokens per reply.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_tokens: usize,
    /// Random seed; the same seed and the same messages give the same replies.
    #[arg(long, default_value_t = 1337, value_name = "N")]
    pub seed: u64,
    /// End a reply where this string appears (not printed); repeat for several.
    #[arg(long = "stop", value_name = "STRING")]
    pub stop: Vec<String>,
    /// Weight format of the linear layers while generating: f32 (exact) or
    /// q8 (8-bit weights in blocks of 32, faster, logits slightly off).
    #[arg(long, default_value = "f32", value_name = "FORMAT", value_parser = parse_quantization)]
    pub quantize: Quantization,
}

impl Default for GenerationArgs {
    fn default() -> Self {
        GenerationArgs {
            temperature: 0.8,
            top_k: 200,
            top_p: None,
            repetition_penalty: 1.0,
            max_tokens: 256,
            seed: 1337,
            stop: Vec::new(),
            quantize: Quantization::F32,
        }
    }
}

impl GenerationArgs {
    /// Checks the values and builds the [`ChatOptions`], naming the flag of a bad value.
    pub fn chat_options(&self) -> anyhow::Result<ChatOptions> {
        if self.max_tokens == 0 {
            bail!("--max-tokens 0 is invalid; a reply needs at least 1 token");
        }
        if self.stop.iter().any(String::is_empty) {
            bail!("--stop \"\" is invalid; an empty stop string would end every reply before it starts");
        }
        let sampling = SamplingConfig {
            temperature: self.temperature,
            top_k: (self.top_k > 0).then_some(self.top_k),
            top_p: self.top_p,
            repetition_penalty: self.repetition_penalty,
        };
        sampling.validate().context("invalid sampling option (--temperature, --top-p or --repetition-penalty)")?;
        Ok(ChatOptions { sampling, max_tokens: self.max_tokens, stop: self.stop.clone(), seed: self.seed })
    }
}

const HELP: &str = "\
Type a message and press Enter; the reply streams as it is generated.
Commands:
  /help   show this help
  /reset  forget the conversation so far (the system message stays)
  /exit   leave (Ctrl-D does the same)";

/// Runs `aigc chat`.
pub fn run(args: ChatArgs) -> anyhow::Result<()> {
    let options = args.generation.chat_options()?;
    let (mut model, tokenizer) = load_chat_model(&args.model)?;
    model.set_quantization(args.generation.quantize);
    let mut session = ChatSession::new(&model, &tokenizer, options)?;
    session.set_system(args.system.clone());

    let mut stdout = std::io::stdout().lock();
    match &args.prompt {
        Some(prompt) => {
            let reply = stream_reply(&mut session, prompt, &mut stdout)?;
            report(&reply, &session);
            Ok(())
        }
        None => {
            let stdin = std::io::stdin();
            let interactive = stdin.is_terminal();
            repl(&mut session, &args.model, stdin.lock(), &mut stdout, interactive)
        }
    }
}

/// Loads a model directory and its tokenizer, failing with a clear message
/// for a byte-level model, which has no tokenizer.json and never learnt the
/// chat template.
pub fn load_chat_model(dir: &Path) -> anyhow::Result<(Gpt, Tokenizer)> {
    let loaded = load_model(dir)?;
    let Some(tokenizer) = loaded.tokenizer else {
        bail!(
            "{} holds a byte-level model without tokenizer.json (config.json names tokenizer {:?}); \
             aigc chat needs a chat model with its BPE tokenizer, such as one written by `aigc sft` or `aigc demo`",
            dir.display(),
            loaded.config.tokenizer
        );
    };
    Ok((loaded.gpt, tokenizer))
}

/// Reads messages from `input` line by line and replies to each one,
/// keeping the conversation, until `/exit` or the end of input.
///
/// When `interactive` (stdin is a terminal), a banner and a `> ` prompt
/// are printed; otherwise only the replies, one per line.
pub fn repl(
    session: &mut ChatSession<'_>,
    model_dir: &Path,
    mut input: impl BufRead,
    out: &mut impl Write,
    interactive: bool,
) -> anyhow::Result<()> {
    if interactive {
        let model = session_model_summary(session);
        writeln!(out, "Chatting with {} ({model}). /help lists the commands; /exit or Ctrl-D quits.", model_dir.display())?;
    }
    let mut line = Vec::new();
    loop {
        if interactive {
            write!(out, "> ")?;
            out.flush()?;
        }
        line.clear();
        if input.read_until(b'\n', &mut line).context("could not read from stdin")? == 0 {
            if interactive {
                writeln!(out)?;
            }
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let message = text.trim();
        if message.is_empty() {
            continue;
        }

        match message {
            "/exit" | "/quit" => return Ok(()),
            "/help" => writeln!(out, "{HELP}")?,
            "/reset" => {
                session.reset();
                writeln!(out, "(conversation cleared)")?;
            }
            command if command.starts_with('/') && !command.contains(char::is_whitespace) => {
                writeln!(out, "unknown command {command}; /help lists the commands")?;
            }
            _ => match stream_reply(session, message, out) {
                Ok(reply) => report(&reply, session),
                // A message that does not fit is the user's to fix; the session goes on.
                Err(error) => eprintln!("error: {error:#}"),
            },
        }
        out.flush()?;
    }
}

/// Sends `message` and writes the reply to `out` as it is generated,
/// flushing after each piece, then a newline.
fn stream_reply(session: &mut ChatSession<'_>, message: &str, out: &mut impl Write) -> anyhow::Result<ChatReply> {
    let mut write_error = None;
    let reply = session.send(message, |piece| {
        if write_error.is_none() {
            if let Err(error) = out.write_all(piece.as_bytes()).and_then(|()| out.flush()) {
                write_error = Some(error);
            }
        }
    })?;
    if let Some(error) = write_error {
        return Err(error).context("could not write the reply to stdout");
    }
    writeln!(out)?;
    out.flush()?;
    Ok(reply)
}

/// Tells the user on stderr about dropped turns and replies that were cut short.
fn report(reply: &ChatReply, session: &ChatSession<'_>) {
    if let Some(notice) = &reply.notice {
        eprintln!("note: {notice}");
    }
    match reply.finish {
        FinishReason::MaxTokens => {
            eprintln!("note: the reply stopped at {} tokens (--max-tokens)", session.options().max_tokens);
        }
        FinishReason::ContextFull => eprintln!("note: the reply stopped because the model's context is full"),
        FinishReason::EndOfTurn | FinishReason::StopString => {}
    }
}

fn session_model_summary(session: &ChatSession<'_>) -> String {
    let model = session.model();
    format!("{} parameters, {}-token context", model.num_parameters(), model.config.block_size)
}
