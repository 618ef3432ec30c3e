//! `aigc serve`: put a chat model behind the OpenAI Chat Completions API,
//! with a web chat page at `/`.

use std::path::PathBuf;
use std::time::Duration;

use aigc_gpt::Quantization;
use aigc_serve::{ChatModel, ServeConfig};
use anyhow::{bail, Context};
use clap::Args;

use super::common::parse_quantization;

/// Arguments of `aigc serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model directory with config.json, model.safetensors and tokenizer.json
    /// (written by `aigc sft` or `aigc demo`).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Address to listen on; the default accepts connections from this machine only.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub host: String,
    /// Port to listen on; 0 picks a free port, which the start-up log line prints.
    #[arg(long, default_value_t = 8000, value_name = "PORT")]
    pub port: u16,
    /// Maximum number of generations running at once; further requests wait in a queue.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub max_concurrent: usize,
    /// Seconds a request waits for a free generation slot before it gets 429.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub queue_timeout_secs: f64,
    /// Largest max_tokens a request may ask for; also the default when it gives none.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_tokens_limit: usize,
    /// Time limit of one generation in seconds.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub timeout_secs: f64,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_body_bytes: usize,
    /// Weight format of the linear layers while generating: f32 (exact) or
    /// q8 (8-bit weights in blocks of 32, faster, logits slightly off).
    #[arg(long, default_value = "f32", value_name = "FORMAT", value_parser = parse_quantization)]
    pub quantize: Quantization,
}

impl ServeArgs {
    /// Checks the values and builds the server config, naming the flag of a bad value.
    pub fn config(&self) -> anyhow::Result<ServeConfig> {
        if self.max_concurrent == 0 {
            bail!("--max-concurrent 0 is invalid; allow at least 1 generation at a time");
        }
        if self.max_tokens_limit == 0 {
            bail!("--max-tokens-limit 0 is invalid; allow replies of at least 1 token");
        }
        if self.max_body_bytes == 0 {
            bail!("--max-body-bytes 0 is invalid; no request would fit");
        }
        Ok(ServeConfig {
            host: self.host.clone(),
            port: self.port,
            max_concurrent: self.max_concurrent,
            queue_timeout: seconds("--queue-timeout-secs", self.queue_timeout_secs)?,
            max_tokens_limit: self.max_tokens_limit,
            timeout: seconds("--timeout-secs", self.timeout_secs)?,
            max_body_bytes: self.max_body_bytes,
            token_delay: Duration::ZERO,
        })
    }
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("{flag} {value} is invalid; give a positive number of seconds"))
}

/// Runs `aigc serve` until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    if !args.model.is_dir() {
        bail!("model directory {} not found; create one with `aigc demo --out DIR` or `aigc sft`", args.model.display());
    }
    let mut model =
        ChatModel::load(&args.model).with_context(|| format!("could not load the model in {}", args.model.display()))?;
    model.set_quantization(args.quantize);
    tracing::info!(
        model = model.id(),
        block_size = model.gpt().config.block_size,
        quantize = ?args.quantize,
        max_concurrent = config.max_concurrent,
        max_tokens_limit = config.max_tokens_limit,
        "loaded {}",
        args.model.display()
    );
    let (host, port) = (config.host.clone(), config.port);
    aigc_serve::serve_until_signal(model, config).with_context(|| format!("could not serve on {host}:{port}"))
}
