"""PyTorch reference for the aigc GPT: golden fixture, CPU benchmark, Shakespeare run.

Subcommands:
  golden       write the safetensors fixture that the Rust whole-model test matches
  bench        print one JSON line with training or generation throughput
  shakespeare  train a byte-level GPT on a text file and report the validation loss

The model is GPT-2 style and its parameter names match the fixture: `wte`, `wpe`,
`h.{i}.ln_1`, `h.{i}.attn.c_attn`, `h.{i}.attn.c_proj`, `h.{i}.ln_2`, `h.{i}.mlp.c_fc`,
`h.{i}.mlp.c_proj`, `ln_f`. The LM head reuses `wte.weight`. Linear weights use the
PyTorch layout (out_features, in_features), so y = x @ W^T + b.

Shape legend: B batch, T sequence length, C = n_embd, V = vocab_size,
nh = n_head, hs = head size (C / nh).
"""

import argparse
import contextlib
import json
import math
import resource
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

LAYER_NORM_EPS = 1e-5
SEED = 1337


# ---------------------------------------------------------------------------
# Model: Config -> CausalSelfAttention -> Mlp -> Block -> Gpt
# ---------------------------------------------------------------------------


@dataclass
class Config:
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    bias: bool = True
    dropout: float = 0.0


class LayerKVCache:
    """Keys and values of one attention layer for positions [0, max_len)."""

    def __init__(self, batch_size, n_head, max_len, head_size, dtype):
        self.k = torch.zeros(batch_size, n_head, max_len, head_size, dtype=dtype)
        self.v = torch.zeros(batch_size, n_head, max_len, head_size, dtype=dtype)

    def append(self, k, v, start):
        """Store k, v (B, nh, T, hs) at positions [start, start + T).

        Returns the keys and values of positions [0, start + T).
        """
        end = start + k.size(2)
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]


class KVCache:
    """Per-layer key/value buffers plus the number of positions already filled."""

    def __init__(self, config, batch_size, dtype=torch.float32):
        head_size = config.n_embd // config.n_head
        self.layers = [
            LayerKVCache(batch_size, config.n_head, config.block_size, head_size, dtype)
            for _ in range(config.n_layer)
        ]
        self.length = 0


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout

    def forward(self, x, layer_cache=None, start=0):
        B, T, C = x.shape
        hs = C // self.n_head

        q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)

        if layer_cache is not None:
            k, v = layer_cache.append(k, v, start)  # (B, nh, start + T, hs)
        if T > 1 and start > 0:
            # is_causal=True aligns the mask to the top-left corner, which is wrong
            # once the keys run ahead of the queries.
            raise ValueError(
                f"attention with a cache takes either a prompt at position 0 or one token, "
                f"got T={T} at start={start}"
            )

        # softmax(q k^T / sqrt(hs)) v, with key j hidden from query i when j > i.
        # A single new query (T == 1) may see every cached key, so it needs no mask.
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=T > 1, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y)


class Mlp(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))  # (B, T, 4C) inside, (B, T, C) out


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=LAYER_NORM_EPS, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=LAYER_NORM_EPS, bias=config.bias)
        self.mlp = Mlp(config)

    def forward(self, x, layer_cache=None, start=0):
        x = x + self.attn(self.ln_1(x), layer_cache, start)
        x = x + self.mlp(self.ln_2(x))
        return x


class Gpt(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=LAYER_NORM_EPS, bias=config.bias)

    def forward(self, idx, targets=None, cache=None):
        """Return logits (B, T, V) and, when targets (B, T) are given, the mean cross-entropy."""
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence end {start + T} exceeds block_size {self.config.block_size}"
            )

        pos = torch.arange(start, start + T, dtype=torch.long)  # (T,)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, C)
        for i, block in enumerate(self.h):
            layer_cache = cache.layers[i] if cache is not None else None
            x = block(x, layer_cache, start)  # (B, T, C)
        if cache is not None:
            cache.length += T

        x = self.ln_f(x)  # (B, T, C)
        logits = F.linear(x, self.wte.weight)  # (B, T, V), tied LM head
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
        return logits, loss


def is_decayed(name, param):
    """Return True when AdamW should decay this parameter: a 2-D weight that is not an embedding."""
    return param.dim() == 2 and not name.startswith(("wte.", "wpe."))


def make_adamw(model, lr, betas, weight_decay, eps=1e-8):
    """Build AdamW with two groups: decayed matrices and everything else at decay 0."""
    decay = [p for n, p in model.named_parameters() if is_decayed(n, p)]
    no_decay = [p for n, p in model.named_parameters() if not is_decayed(n, p)]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def init_gpt2(model, generator):
    """Initialise like GPT-2: N(0, 0.02) weights, scaled residual projections, zero biases.

    LayerNorm weights start at 1 and their biases at 0.
    """
    std_proj = 0.02 / math.sqrt(2 * model.config.n_layer)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("ln_f."):
                p.fill_(1.0 if name.endswith(".weight") else 0.0)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                std = std_proj if name.endswith("c_proj.weight") else 0.02
                p.normal_(0.0, std, generator=generator)


def init_golden(model, generator):
    """Draw every parameter, biases and LayerNorm included, from a normal distribution.

    Then no gradient term is trivially zero or one. The draws happen in
    named_parameters() order from one generator.
    """
    std_proj = 0.02 / math.sqrt(2 * model.config.n_layer)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = ".ln_" in name or name.startswith("ln_f.")
            if is_norm and name.endswith(".weight"):
                p.normal_(0.0, 0.1, generator=generator).add_(1.0)
            elif name.endswith("c_proj.weight"):
                p.normal_(0.0, std_proj, generator=generator)
            else:
                p.normal_(0.0, 0.02, generator=generator)


def peak_rss_mb():
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def command_line():
    return "python " + shlex.join(sys.argv)


# ---------------------------------------------------------------------------
# golden
# ---------------------------------------------------------------------------

GOLDEN_CONFIG = Config(vocab_size=64, n_layer=2, n_head=4, n_embd=32, block_size=16)
GOLDEN_BATCH = 2
GOLDEN_STEPS = 10
GOLDEN_LR = 1e-3
GOLDEN_BETAS = (0.9, 0.95)
GOLDEN_ADAM_EPS = 1e-8
GOLDEN_WEIGHT_DECAY = 0.1
GOLDEN_CLIP_NORM = 1.0


def run_golden(args):
    from safetensors.torch import save_file

    config = GOLDEN_CONFIG
    B, T = GOLDEN_BATCH, config.block_size
    generator = torch.Generator().manual_seed(SEED)

    # Weights and data are drawn in float32 and the maths then runs in float64. Each
    # stored result is the float64 value for exactly the stored float32 weights,
    # rounded once to float32.
    model = Gpt(config)
    init_golden(model, generator)
    input_ids = torch.randint(0, config.vocab_size, (B, T), generator=generator)  # (B, T)
    targets = torch.randint(0, config.vocab_size, (B, T), generator=generator)  # (B, T)

    tensors = {f"param.{n}": p.detach().clone() for n, p in model.named_parameters()}
    tensors["input_ids"] = input_ids
    tensors["targets"] = targets

    model.double()
    logits, loss = model(input_ids, targets)
    loss.backward()
    tensors["logits"] = logits.detach().float()  # (B, T, V)
    tensors["loss"] = loss.detach().float().reshape(1)
    for name, p in model.named_parameters():
        tensors[f"grad.{name}"] = p.grad.float()

    # Ten AdamW steps on the same batch, starting again from the initial weights.
    optimizer = make_adamw(
        model, GOLDEN_LR, GOLDEN_BETAS, GOLDEN_WEIGHT_DECAY, eps=GOLDEN_ADAM_EPS
    )
    losses, grad_norms = [], []
    for _ in range(GOLDEN_STEPS):
        _, loss = model(input_ids, targets)
        losses.append(loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), GOLDEN_CLIP_NORM)
        grad_norms.append(norm.item())
        optimizer.step()
    tensors["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    tensors["adamw_grad_norms"] = torch.tensor(grad_norms, dtype=torch.float32)
    for name, p in model.named_parameters():
        tensors[f"adamw_final.{name}"] = p.detach().float()

    decayed = [n for n, p in model.named_parameters() if is_decayed(n, p)]
    metadata = {
        **{k: str(v) for k, v in asdict(config).items()},
        "batch_size": str(B),
        "seq_len": str(T),
        "layer_norm_eps": str(LAYER_NORM_EPS),
        "gelu": "tanh approximation",
        "lm_head": "tied to wte.weight",
        "loss": "mean cross-entropy over all B*T positions",
        "seed": str(SEED),
        "init": (
            "one torch.Generator(seed), draws in named_parameters order, then input_ids, "
            "then targets; LayerNorm weight 1 + N(0, 0.1); c_proj weights "
            "N(0, 0.02 / sqrt(2 * n_layer)); every other tensor N(0, 0.02)"
        ),
        "dtype": "weights drawn in float32, maths in float64, stored as float32",
        "adamw_steps": str(GOLDEN_STEPS),
        "adamw_step": (
            "forward, loss (recorded in adamw_losses), zero grads, backward, "
            "clip_grad_norm_ (pre-clip norm recorded in adamw_grad_norms), AdamW step"
        ),
        "lr": str(GOLDEN_LR),
        "betas": json.dumps(GOLDEN_BETAS),
        "adam_eps": str(GOLDEN_ADAM_EPS),
        "weight_decay": str(GOLDEN_WEIGHT_DECAY),
        "weight_decay_params": json.dumps(decayed),
        "clip_grad_norm": str(GOLDEN_CLIP_NORM),
        "clip_formula": "scale = max_norm / (total_norm + 1e-6), applied only when scale < 1",
        "torch_version": torch.__version__,
        "command": command_line(),
    }

    save_file(tensors, args.out, metadata=metadata)
    print(
        json.dumps(
            {
                "out": args.out,
                "tensors": len(tensors),
                "loss": tensors["loss"].item(),
                "adamw_losses": losses,
                "adamw_grad_norms": grad_norms,
            }
        )
    )


# ---------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------

BENCH_PRESETS = {
    "tiny": dict(vocab_size=256, n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=16),
    "small": dict(vocab_size=8192, n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=8),
}
GENERATE_PROMPT_LEN = 16
GENERATE_NEW_TOKENS = 256
BENCH_PRECISIONS = ("f32", "bf16")


def mixed_precision(precision):
    """Return a fresh context manager that runs the enclosed maths at `precision`.

    "f32" changes nothing. "bf16" is CPU autocast to bfloat16: nn.Linear, the tied
    LM head and scaled_dot_product_attention take bfloat16 operands, while the
    weights, gradients, AdamW state, LayerNorm, the residual adds and the
    cross-entropy stay float32.

    Autocast was the fastest bf16 mode in both modes. Tokens/s with torch
    2.15.0, --threads 1, on a 2-core AMD EPYC (Zen 4, AVX-512 BF16, no AMX) that
    was also compiling Rust, so the numbers are rough:

        tiny train, 5 steps:   f32 11356, autocast 12800, fp32_precision bf16 7991
        small train, 3 steps:  f32 777,   autocast 1276,  fp32_precision bf16 830
        tiny generate:         f32 1741,  autocast 741,   fp32_precision bf16 538

    A rerun of this bench with --precision f32 and bf16 gave 9679 and 12940 (tiny
    train), 899 and 1508 (small train), and 1914 and 744 (tiny generate).
    Generation wraps each whole run in one autocast region. One region per
    forward measured about the same, 658 tokens/s.

    The autocast losses matched float32 to 2e-4 over those steps. On one repeated
    tiny batch, 30 steps took the loss from 5.574 to 3.161, against 3.118 in
    float32.

    torch.backends.mkldnn.matmul.fp32_precision = "bf16", which
    torch.set_float32_matmul_precision("medium") also sets, is no bf16 mode on
    this CPU. ONEDNN_VERBOSE shows oneDNN's float32 kernel (brg_matmul:avx512_core)
    running despite fpmath bf16, and the results keep float32 accuracy.

    NOTE: autocast also rounds every Linear output and the GELU to bfloat16, so
    PyTorch rounds more often than a mode that keeps each product's output in
    float32. For batch-1 generation every bf16 mode measured was slower than
    float32. The torch profiler shows autocast casting every weight again in each
    forward, because its weight-cast cache did not apply under inference_mode.
    """
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.inference_mode()
def generate_greedy(model, prompt, new_tokens):
    """Append new_tokens greedy (argmax) tokens to prompt (1, T0), using a KV cache."""
    cache = KVCache(model.config, batch_size=prompt.size(0))
    logits, _ = model(prompt, cache=cache)  # prefill, (1, T0, V)
    out = [prompt]
    for i in range(new_tokens):
        next_token = logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (1, 1)
        out.append(next_token)
        if i + 1 < new_tokens:
            logits, _ = model(next_token, cache=cache)  # (1, 1, V)
    return torch.cat(out, dim=1)


def run_bench(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    preset = dict(BENCH_PRESETS[args.preset])
    batch_size = preset.pop("batch_size")

    if args.mode == "generate":
        # The prompt plus the generated tokens must fit in the position table.
        preset["block_size"] = GENERATE_PROMPT_LEN + GENERATE_NEW_TOKENS
        batch_size = 1
    config = Config(**preset)
    model = Gpt(config)
    init_gpt2(model, generator)

    times = []
    if args.mode == "train":
        model.train()
        optimizer = make_adamw(model, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
        tokens_per_run = batch_size * config.block_size
        shape = (batch_size, config.block_size)
        for step in range(args.warmup + args.steps):
            idx = torch.randint(0, config.vocab_size, shape, generator=generator)
            targets = torch.randint(0, config.vocab_size, shape, generator=generator)
            t0 = time.perf_counter()
            with mixed_precision(args.precision):
                _, loss = model(idx, targets)  # forward and loss only, as autocast expects
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step >= args.warmup:
                times.append(time.perf_counter() - t0)
    else:
        model.eval()
        tokens_per_run = GENERATE_NEW_TOKENS
        for step in range(args.warmup + args.steps):
            prompt = torch.randint(
                0, config.vocab_size, (1, GENERATE_PROMPT_LEN), generator=generator
            )
            t0 = time.perf_counter()
            with mixed_precision(args.precision):
                generate_greedy(model, prompt, GENERATE_NEW_TOKENS)
            if step >= args.warmup:
                times.append(time.perf_counter() - t0)

    print(
        json.dumps(
            {
                "preset": args.preset,
                "mode": args.mode,
                "threads": args.threads,
                "precision": args.precision,
                "tokens_per_s": round(tokens_per_run / statistics.median(times), 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "torch": torch.__version__,
                "batch_size": batch_size,
                "block_size": config.block_size,
                "tokens_per_run": tokens_per_run,
                "steps": args.steps,
                "warmup": args.warmup,
                "params": sum(p.numel() for p in model.parameters()),
            }
        )
    )


# ---------------------------------------------------------------------------
# shakespeare
# ---------------------------------------------------------------------------

SHAKESPEARE_CONFIG = Config(vocab_size=256, n_layer=4, n_head=4, n_embd=128, block_size=64)
SHAKESPEARE_BATCH = 12
SHAKESPEARE_WARMUP_STEPS = 100
SHAKESPEARE_MAX_LR = 1e-3
SHAKESPEARE_MIN_LR = 1e-4
SHAKESPEARE_VAL_BATCHES = 200


def learning_rate(step, total_steps):
    """Linear warm-up over the first 100 steps, then cosine decay to the minimum at total_steps."""
    if step < SHAKESPEARE_WARMUP_STEPS:
        return SHAKESPEARE_MAX_LR * (step + 1) / SHAKESPEARE_WARMUP_STEPS
    progress = (step - SHAKESPEARE_WARMUP_STEPS) / max(1, total_steps - SHAKESPEARE_WARMUP_STEPS)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return SHAKESPEARE_MIN_LR + cosine * (SHAKESPEARE_MAX_LR - SHAKESPEARE_MIN_LR)


def random_batch(data, batch_size, block_size, generator):
    """Return inputs and next-byte targets (B, T) from random windows of data."""
    starts = torch.randint(0, len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s : s + block_size] for s in starts.tolist()])
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts.tolist()])
    return x, y


def run_shakespeare(args):
    torch.set_num_threads(args.threads)
    with open(args.data, "rb") as f:
        raw = f.read()
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()  # one token per byte
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]

    config = SHAKESPEARE_CONFIG
    generator = torch.Generator().manual_seed(SEED)
    model = Gpt(config)
    init_gpt2(model, generator)
    optimizer = make_adamw(model, SHAKESPEARE_MAX_LR, betas=(0.9, 0.99), weight_decay=0.1)
    tokens_per_step = SHAKESPEARE_BATCH * config.block_size

    wall_start = time.perf_counter()
    step_times = []
    interval_start = time.perf_counter()
    for step in range(args.steps):
        t0 = time.perf_counter()
        lr = learning_rate(step, args.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr

        x, y = random_batch(train_data, SHAKESPEARE_BATCH, config.block_size, generator)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step_times.append(time.perf_counter() - t0)

        done = step + 1
        if done % 100 == 0 or done == args.steps:
            now = time.perf_counter()
            interval_steps = done % 100 or 100
            record = {
                "step": done,
                "loss": round(loss.item(), 4),
                "lr": lr,
                "tokens_per_s": round(interval_steps * tokens_per_step / (now - interval_start), 1),
            }
            print(json.dumps(record), flush=True)
            interval_start = now
    train_time = time.perf_counter() - wall_start

    model.eval()
    val_generator = torch.Generator().manual_seed(SEED + 1)
    val_losses = []
    with torch.inference_mode():
        for _ in range(SHAKESPEARE_VAL_BATCHES):
            x, y = random_batch(val_data, SHAKESPEARE_BATCH, config.block_size, val_generator)
            val_losses.append(model(x, y)[1].item())

    median_step = statistics.median(step_times)
    print(
        json.dumps(
            {
                "val_loss": round(statistics.fmean(val_losses), 4),
                "val_batches": SHAKESPEARE_VAL_BATCHES,
                "steps": args.steps,
                "threads": args.threads,
                "train_time_s": round(train_time, 1),
                "wall_time_s": round(time.perf_counter() - wall_start, 1),
                "median_tokens_per_s": round(tokens_per_step / median_step, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "torch": torch.__version__,
            }
        ),
        flush=True,
    )


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    golden = sub.add_parser("golden", help="write the golden safetensors fixture")
    golden.add_argument("--out", required=True, help="output .safetensors path")

    bench = sub.add_parser("bench", help="measure training or generation tokens/s")
    bench.add_argument("--preset", choices=sorted(BENCH_PRESETS), required=True)
    bench.add_argument("--mode", choices=["train", "generate"], required=True)
    bench.add_argument(
        "--threads", type=positive_int, required=True, help="torch intra-op threads"
    )
    bench.add_argument("--steps", type=positive_int, default=10, help="timed runs (default 10)")
    bench.add_argument(
        "--warmup",
        type=non_negative_int,
        default=2,
        help="untimed runs before the timed ones (default 2)",
    )
    bench.add_argument(
        "--precision",
        choices=BENCH_PRECISIONS,
        default="f32",
        help="f32, or bf16 for CPU autocast: bfloat16 matrix products, float32 weights (default f32)",
    )

    shakespeare = sub.add_parser("shakespeare", help="train a byte-level GPT on a text file")
    shakespeare.add_argument("--data", required=True, help="path of the training text")
    shakespeare.add_argument(
        "--steps", type=positive_int, default=2000, help="training steps (default 2000)"
    )
    shakespeare.add_argument(
        "--threads", type=positive_int, default=1, help="torch intra-op threads (default 1)"
    )

    args = parser.parse_args()
    if args.command == "golden":
        run_golden(args)
    elif args.command == "bench":
        run_bench(args)
    else:
        run_shakespeare(args)


if __name__ == "__main__":
    main()
