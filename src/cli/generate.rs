//! `aigc generate`: sample text from a trained model.

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use aigc_gpt::{Quantization, SamplingConfig};
use aigc_tensor::Rng;
use clap::Args;

use super::common::{load_model, parse_quantization};

/// Arguments of `aigc generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model directory written by `aigc train`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Text to continue.
    #[arg(long, value_name = "TEXT")]
    pub prompt: String,
    /// Number of tokens to generate.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8, value_name = "X")]
    pub temperature: f32,
    /// Sample only among the K most likely tokens.
    #[arg(long, default_value_t = 200, value_name = "K")]
    pub top_k: usize,
    /// Nucleus sampling: keep the most likely tokens up to this total probability, in (0, 1].
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,
    /// Random seed; the same seed gives the same text.
    #[arg(long, default_value_t = 1337, value_name = "N")]
    pub seed: u64,
    /// Weight format of the linear layers while generating: f32 (exact) or
    /// q8 (8-bit weights in blocks of 32, faster, logits slightly off).
    #[arg(long, default_value = "f32", value_name = "FORMAT", value_parser = parse_quantization)]
    pub quantize: Quantization,
}

/// Runs `aigc generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if args.prompt.is_empty() {
        bail!("--prompt is empty; give some text to continue");
    }
    let sampling = SamplingConfig { temperature: args.temperature, top_k: Some(args.top_k), top_p: args.top_p, repetition_penalty: 1.0 };
    sampling.validate()?;
    let mut model = load_model(&args.model)?;
    model.gpt.set_quantization(args.quantize);
    let prompt = model.encode(&args.prompt)?;
    let mut rng = Rng::seed(args.seed);
    let generated = model.gpt.generate(&prompt, args.max_tokens, &sampling, &[], &mut rng)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}{}", args.prompt, model.decode(&generated)?)?;
    Ok(())
}
