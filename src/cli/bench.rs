//! `aigc bench`: training or generation throughput on random tokens, measured
//! the way `tools/reference/gpt_reference.py bench` measures PyTorch, so the
//! two JSON lines compare field by field.

use std::time::Instant;

use anyhow::{bail, Context};
use aigc_gpt::{Gpt, GptConfig, Quantization, SamplingConfig};
use aigc_nn::{Module, ParamKind};
use aigc_optim::{AdamW, Optimizer};
use aigc_tensor::{Rng, Tensor};
use clap::{Args, ValueEnum};

use super::common::parse_quantization;

/// Prompt length of the generation benchmark, as in the reference script.
const GENERATE_PROMPT_LEN: usize = 16;
/// New tokens per generation run, as in the reference script.
const GENERATE_NEW_TOKENS: usize = 256;
/// Seed of the model initialisation and of the random tokens.
const SEED: u64 = 1337;

/// Arguments of `aigc bench`. Thread count: the global `--threads`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model and batch: tiny (vocab 256, 4 layers, 4 heads, n_embd 128, block 128, batch 16)
    /// or small (vocab 8192, 6 layers, 6 heads, n_embd 384, block 256, batch 8).
    #[arg(long, value_enum)]
    pub preset: BenchPreset,
    /// train: forward, cross-entropy, backward and an AdamW step per run;
    /// generate: 256 greedy tokens after a 16-token prompt with the KV cache.
    #[arg(long, value_enum)]
    pub mode: BenchMode,
    /// Timed runs; tokens_per_s is their median.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub steps: usize,
    /// Untimed runs before the timed ones.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub warmup: usize,
    /// Weight format of generation: f32 (exact) or q8 (8-bit weights in
    /// blocks of 32); --mode generate only.
    #[arg(long, default_value = "f32", value_name = "FORMAT", value_parser = parse_quantization)]
    pub quantize: Quantization,
}

/// The benchmark model sizes, the same as the reference script's.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchPreset {
    /// vocab 256, n_layer 4, n_head 4, n_embd 128, block_size 128, batch 16.
    Tiny,
    /// vocab 8192, n_layer 6, n_head 6, n_embd 384, block_size 256, batch 8.
    Small,
}

/// The work of one timed run.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchMode {
    /// One training step.
    Train,
    /// One greedy generation with the KV cache.
    Generate,
}

impl BenchPreset {
    fn name(self) -> &'static str {
        match self {
            BenchPreset::Tiny => "tiny",
            BenchPreset::Small => "small",
        }
    }

    /// Returns the model config and the training batch size.
    fn config(self) -> (GptConfig, usize) {
        let base = GptConfig { vocab_size: 0, n_layer: 0, n_head: 0, n_embd: 0, block_size: 0, dropout: 0.0, bias: true };
        match self {
            BenchPreset::Tiny => {
                (GptConfig { vocab_size: 256, n_layer: 4, n_head: 4, n_embd: 128, block_size: 128, ..base }, 16)
            }
            BenchPreset::Small => {
                (GptConfig { vocab_size: 8192, n_layer: 6, n_head: 6, n_embd: 384, block_size: 256, ..base }, 8)
            }
        }
    }
}

impl BenchMode {
    fn name(self) -> &'static str {
        match self {
            BenchMode::Train => "train",
            BenchMode::Generate => "generate",
        }
    }
}

/// Runs the benchmark and prints one JSON line.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.steps == 0 {
        bail!("--steps 0 times nothing; give at least 1");
    }
    if matches!(args.mode, BenchMode::Train) && args.quantize != Quantization::F32 {
        bail!("--quantize {} applies to --mode generate only; training always uses f32 weights", args.quantize);
    }
    let (mut config, mut batch_size) = args.preset.config();
    if let BenchMode::Generate = args.mode {
        // The prompt and every generated token must fit in the position table.
        config.block_size = GENERATE_PROMPT_LEN + GENERATE_NEW_TOKENS;
        batch_size = 1;
    }
    let mut model = Gpt::with_seed(config.clone(), SEED).context("could not build the benchmark model")?;
    let mut rng = Rng::seed(SEED);

    let (tokens_per_run, seconds) = match args.mode {
        BenchMode::Train => {
            model.set_training(true);
            (batch_size * config.block_size, time_training(&model, batch_size, &args, &mut rng)?)
        }
        BenchMode::Generate => {
            model.set_training(false);
            model.set_quantization(args.quantize);
            (GENERATE_NEW_TOKENS, time_generation(&model, &args, &mut rng)?)
        }
    };

    let mut line = serde_json::json!({
        "preset": args.preset.name(),
        "mode": args.mode.name(),
        "quantize": args.quantize.name(),
        "precision": super::precision::current_precision(),
        "threads": rayon::current_num_threads(),
        "tokens_per_s": round1(tokens_per_run as f64 / median(seconds)),
        "peak_rss_mb": round1(peak_rss_mb()?),
        "aigc": env!("CARGO_PKG_VERSION"),
        "batch_size": batch_size,
        "block_size": config.block_size,
        "tokens_per_run": tokens_per_run,
        "steps": args.steps,
        "warmup": args.warmup,
        "params": model.num_parameters(),
    });
    if let BenchMode::Generate = args.mode {
        // The handover between decoding threads decides which products are split.
        let handover_ns = model.decode_handover().map(|handover| handover.as_nanos() as u64);
        line["decode_handover_ns"] = serde_json::json!(handover_ns);
    }
    println!("{line}");
    Ok(())
}

/// Times `warmup + steps` training steps and returns the seconds of the timed ones.
///
/// A step is what the reference script times: forward with the loss, zero
/// gradients, backward, AdamW (lr 1e-3, betas (0.9, 0.95), weight decay 0.1
/// on weight matrices only), without gradient clipping.
fn time_training(model: &Gpt, batch_size: usize, args: &BenchArgs, rng: &mut Rng) -> anyhow::Result<Vec<f64>> {
    let config = &model.config;
    let params = model.parameters();
    let mut optimizer = AdamW::new(1e-3, 0.1).betas(0.9, 0.95).decay_kinds(&[ParamKind::Weight]);
    let shape = [batch_size, config.block_size];
    let mut seconds = Vec::with_capacity(args.steps);
    for step in 0..args.warmup + args.steps {
        let ids = random_ids(&shape, config.vocab_size, rng)?;
        let targets = random_ids(&shape, config.vocab_size, rng)?;
        let start = Instant::now();
        let (_logits, loss) = model.forward_with_loss(&ids, &targets)?;
        for param in &params {
            param.var.zero_grad();
        }
        loss.backward()?;
        // The graph shares storage with the parameters; dropping it lets
        // the optimizer update them in place.
        drop((_logits, loss));
        optimizer.step(&params)?;
        if step >= args.warmup {
            seconds.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(seconds)
}

/// Times `warmup + steps` greedy generations and returns the seconds of the timed ones.
fn time_generation(model: &Gpt, args: &BenchArgs, rng: &mut Rng) -> anyhow::Result<Vec<f64>> {
    let vocab = model.config.vocab_size as u32;
    let greedy = SamplingConfig::greedy();
    let mut seconds = Vec::with_capacity(args.steps);
    for step in 0..args.warmup + args.steps {
        let prompt: Vec<u32> = (0..GENERATE_PROMPT_LEN).map(|_| rng.below(vocab as usize) as u32).collect();
        let start = Instant::now();
        let generated = model.generate(&prompt, GENERATE_NEW_TOKENS, &greedy, &[], rng)?;
        let elapsed = start.elapsed().as_secs_f64();
        if generated.len() != GENERATE_NEW_TOKENS {
            bail!("generation stopped after {} of {GENERATE_NEW_TOKENS} tokens", generated.len());
        }
        if step >= args.warmup {
            seconds.push(elapsed);
        }
    }
    Ok(seconds)
}

/// Draws uniform token ids in `0..vocab`, stored as f32 like every id tensor.
fn random_ids(shape: &[usize], vocab: usize, rng: &mut Rng) -> anyhow::Result<Tensor> {
    let count = shape.iter().product();
    let ids = (0..count).map(|_| rng.below(vocab) as f32).collect();
    Ok(Tensor::from_vec(ids, shape)?)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Peak resident set size of this process in MiB: `VmHWM` from `/proc/self/status`.
fn peak_rss_mb() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status").context("could not read /proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .context("/proc/self/status has no VmHWM line; peak RSS is only measured on Linux")?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("could not parse {line:?}"))?;
    Ok(kib / 1024.0)
}
