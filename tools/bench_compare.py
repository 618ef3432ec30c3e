#!/usr/bin/env python3
"""Compare aigc with eager PyTorch on the same GPT benchmarks, side by side.

For every preset, mode and thread count asked for, the script runs
`aigc bench` and `tools/reference/gpt_reference.py bench` alternately
(aigc, PyTorch, aigc, PyTorch, ...) for --rounds rounds, so that both see
the same background load. Each run prints one JSON line with tokens_per_s
(the median over its timed steps) and peak_rss_mb. The table reports, per
configuration, the median over the rounds for each side and the ratio
aigc / PyTorch.

Example (from the repository root, after `cargo build --release`):

    python3 tools/bench_compare.py --rounds 3 --threads 1 2
    python3 tools/bench_compare.py --modes generate --quantize q8

`--quantize q8` runs aigc's generation with 8-bit weights; the PyTorch side
stays float32, so those rows compare aigc's fastest decoding, not equal
arithmetic.

`--precision bf16` passes `--precision bf16` to both sides: aigc rounds the
operands of its matrix products to bfloat16, and the reference runs under
CPU autocast to bfloat16. Both keep float32 weights. The script stops if a
JSON line reports a precision other than the one requested. With
`--precision f32 bf16`, each round runs all four programs in turn, and a
second table compares aigc in bf16 with PyTorch in f32 from the same rounds.

`--dry-run` prints the command lines without running them.

PyTorch is needed only for the reference side; pass its interpreter with
--python (default: ~/torch-venv/bin/python when it exists, else python3).
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "tools" / "reference" / "gpt_reference.py"

# Timed and untimed runs per benchmark process. A small training step takes
# seconds on one core, so the small preset uses fewer of them.
DEFAULT_STEPS = {
    ("tiny", "train"): (10, 2),
    ("small", "train"): (5, 1),
    ("tiny", "generate"): (5, 1),
    ("small", "generate"): (3, 1),
}


def default_aigc():
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return str(Path(target) / "release" / "aigc")


def default_python():
    venv = Path.home() / "torch-venv" / "bin" / "python"
    return str(venv) if venv.exists() else "python3"


def run_json(command):
    """Run one benchmark process and return its JSON line as a dict."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(
            f"benchmark failed with exit code {result.returncode}: {shlex.join(command)}\n{result.stderr}"
        )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"no JSON line in the output of {shlex.join(command)}:\n{result.stdout}")
    return json.loads(lines[-1])


def commands(args, preset, mode, threads, precision):
    steps, warmup = DEFAULT_STEPS[(preset, mode)]
    steps = args.steps or steps
    warmup = args.warmup if args.warmup is not None else warmup
    shared = ["--preset", preset, "--mode", mode, "--threads", str(threads), "--steps", str(steps), "--warmup", str(warmup)]
    if precision != "f32":
        # Passed only when not the default, so f32 runs also work with an aigc
        # build that predates --precision.
        shared += ["--precision", precision]
    aigc = [args.aigc, "bench", *shared]
    if mode == "generate" and args.quantize != "f32":
        aigc += ["--quantize", args.quantize]
    torch = [args.python, str(REFERENCE), "bench", *shared]
    return aigc, torch


def check_precision(record, expected, command):
    """Stop when a benchmark's JSON line reports another precision than the one requested.

    A JSON line without the field comes from a build that predates it and ran float32.
    """
    if "precision" in record:
        reported = f"reports {record['precision']}"
    else:
        reported = "has no precision field, so it ran f32"
    if record.get("precision", "f32") != expected:
        raise SystemExit(
            f"expected precision {expected}, but the JSON line {reported}: {shlex.join(command)}\n"
            "Use a build of that program that supports --precision."
        )


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average():
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def ratio(a, b):
    return a / b if b else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"], choices=["tiny", "small"])
    parser.add_argument("--modes", nargs="+", default=["train", "generate"], choices=["train", "generate"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--rounds", type=int, default=3, help="aigc/PyTorch pairs per configuration (default 3)")
    parser.add_argument("--steps", type=int, help="timed steps per process (default: per preset and mode)")
    parser.add_argument("--warmup", type=int, help="untimed steps per process (default: per preset and mode)")
    parser.add_argument("--aigc", default=default_aigc(), help="the aigc binary (default: $CARGO_TARGET_DIR/release/aigc)")
    parser.add_argument("--python", default=default_python(), help="a Python interpreter with torch installed")
    parser.add_argument(
        "--quantize",
        default="f32",
        choices=["f32", "q8"],
        help="weight format of aigc's generation runs (default f32, and PyTorch always keeps float32 weights)",
    )
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["f32"],
        choices=["f32", "bf16"],
        help="operand format of both sides' matrix products, with float32 weights either way; "
        "give both to run them side by side (default f32)",
    )
    parser.add_argument("--json-out", help="also append every raw JSON line to this file")
    parser.add_argument("--dry-run", action="store_true", help="print the command lines and run nothing")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    if args.dry_run:
        print(f"# precision {' '.join(args.precision)}, one aigc and one PyTorch command per table row:")
        for preset in args.presets:
            for mode in args.modes:
                for threads in args.threads:
                    for precision in args.precision:
                        for command in commands(args, preset, mode, threads, precision):
                            print(f"    {shlex.join(command)}")
        return
    if not Path(args.aigc).exists():
        parser.error(f"{args.aigc} not found; build it with `cargo build --release` or pass --aigc")

    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"# {started:%Y-%m-%d %H:%M} UTC, {cpu_model()}, {os.cpu_count()} logical CPUs, load average {load_average()}")
    print(f"# {shlex.join([sys.executable, *sys.argv])}")

    rows = []
    for preset in args.presets:
        for mode in args.modes:
            for threads in args.threads:
                programs = [
                    (side, precision, command)
                    for precision in args.precision
                    for side, command in zip(("aigc", "torch"), commands(args, preset, mode, threads, precision))
                ]
                results = {(side, precision): [] for side, precision, _ in programs}
                for round_index in range(args.rounds):
                    for side, precision, command in programs:
                        record = run_json(command)
                        check_precision(record, precision, command)
                        results[(side, precision)].append(record)
                        print(
                            f"  {preset} {mode} threads={threads} {precision} round {round_index + 1}: {side} "
                            f"{record['tokens_per_s']} tokens/s, {record['peak_rss_mb']} MiB",
                            file=sys.stderr,
                            flush=True,
                        )
                        if args.json_out:
                            with open(args.json_out, "a") as out:
                                out.write(json.dumps({"side": side, "round": round_index + 1, **record}) + "\n")
                median = {
                    program: {
                        key: statistics.median(r[key] for r in records) for key in ("tokens_per_s", "peak_rss_mb")
                    }
                    for program, records in results.items()
                }
                rows.append((preset, mode, threads, median))

    print(f"# finished {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load_average()}")
    print(f"# medians of {args.rounds} alternating rounds per row, the same precision on both sides")
    print()
    print("| preset | mode | precision | threads | aigc tokens/s | PyTorch tokens/s | ratio | aigc peak RSS MiB | PyTorch peak RSS MiB | RSS ratio |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for preset, mode, threads, median in rows:
        label = f"generate, aigc {args.quantize}" if mode == "generate" and args.quantize != "f32" else mode
        for precision in args.precision:
            a, t = median[("aigc", precision)], median[("torch", precision)]
            print(
                f"| {preset} | {label} | {precision} | {threads} | {a['tokens_per_s']:.1f} | {t['tokens_per_s']:.1f} | "
                f"{ratio(a['tokens_per_s'], t['tokens_per_s']):.2f}x | {a['peak_rss_mb']:.0f} | {t['peak_rss_mb']:.0f} | "
                f"{ratio(a['peak_rss_mb'], t['peak_rss_mb']):.2f} |"
            )
    if "f32" in args.precision and "bf16" in args.precision:
        print()
        print("# aigc in bf16 against PyTorch in its default f32, from the same rounds")
        print()
        print("| preset | mode | threads | aigc bf16 tokens/s | PyTorch f32 tokens/s | ratio |")
        print("| --- | --- | --- | ---: | ---: | ---: |")
        for preset, mode, threads, median in rows:
            a, t = median[("aigc", "bf16")], median[("torch", "f32")]
            print(
                f"| {preset} | {mode} | {threads} | {a['tokens_per_s']:.1f} | {t['tokens_per_s']:.1f} | "
                f"{ratio(a['tokens_per_s'], t['tokens_per_s']):.2f}x |"
            )


if __name__ == "__main__":
    main()
