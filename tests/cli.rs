//! The `aigc` command as a user runs it: a short real training run, then
//! generate and eval on its output, and every bad input the CLI must reject
//! with one clear message and a non-zero exit code (never a panic).

mod common;

use common::{aigc, aigc_command, assert_fails_with, shakespeare, stderr, temp_dir};

#[test]
fn train_generate_eval_round_trip() {
    let dir = temp_dir("roundtrip");
    let out = dir.join("model");
    let data = shakespeare();
    let output = aigc(&[
        "train", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--preset", "tiny",
        "--block-size", "32", "--batch-size", "8", "--steps", "150", "--eval-interval", "75", "--log-interval", "25",
    ]);
    assert!(output.status.success(), "train failed: {}", stderr(&output));
    for file in ["config.json", "model.safetensors", "train_log.jsonl"] {
        assert!(out.join(file).is_file(), "{file} missing from the model directory");
    }

    // One JSON object per logged step, with the documented fields.
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 6, "150 steps logged every 25: {log}");
    for key in ["step", "loss", "lr", "tokens_per_s"] {
        assert!(entries[0].get(key).is_some(), "log entry lacks {key}: {}", entries[0]);
    }
    let last_loss = entries.last().unwrap()["loss"].as_f64().unwrap();
    assert!(last_loss < 2.9, "150 steps should bring the loss well below ln(256) = 5.5, got {last_loss}");
    assert!(entries.last().unwrap().get("val_loss").is_some(), "the last step is evaluated");

    let output = aigc(&["generate", "--model", out.to_str().unwrap(), "--prompt", "ROMEO:", "--max-tokens", "40", "--seed", "7"]);
    assert!(output.status.success(), "generate failed: {}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(text.starts_with("ROMEO:"), "output starts with the prompt: {text}");
    let again = aigc(&["generate", "--model", out.to_str().unwrap(), "--prompt", "ROMEO:", "--max-tokens", "40", "--seed", "7"]);
    assert_eq!(text, String::from_utf8_lossy(&again.stdout), "same seed, same text");
    let quantized = aigc(&["generate", "--model", out.to_str().unwrap(), "--prompt", "ROMEO:", "--max-tokens", "40", "--quantize", "q8"]);
    assert!(quantized.status.success(), "generate --quantize q8 failed: {}", stderr(&quantized));
    assert!(String::from_utf8_lossy(&quantized.stdout).starts_with("ROMEO:"), "q8 output starts with the prompt");

    let output = aigc(&["eval", "--model", out.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(output.status.success(), "eval failed: {}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let loss = report["val_loss"].as_f64().unwrap();
    let bits = report["bits_per_byte"].as_f64().unwrap();
    assert!(loss > 1.0 && loss < 3.5, "val_loss {loss}");
    assert!((bits - loss / std::f64::consts::LN_2).abs() < 1e-6, "byte-level bits per byte = loss / ln 2");
    assert!((report["perplexity"].as_f64().unwrap() - loss.exp()).abs() < 1e-3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_rejects_missing_data_file() {
    let dir = temp_dir("missing");
    let output = aigc(&["train", "--data", dir.join("nope.txt").to_str().unwrap(), "--out", dir.join("m").to_str().unwrap(), "--steps", "1"]);
    assert_fails_with(&output, "nope.txt");
    let message = stderr(&output);
    assert_eq!(message.matches("(os error 2)").count(), 1, "the OS error is printed once: {message}");
}

#[test]
fn train_refuses_to_overwrite_a_model() {
    let dir = temp_dir("overwrite");
    let out = dir.join("m");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("model.safetensors"), b"an earlier run").unwrap();
    let data = dir.join("data.txt");
    std::fs::write(&data, "to be or not to be, that is the question. ".repeat(50)).unwrap();
    let output = aigc(&["train", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--steps", "1"]);
    assert_fails_with(&output, "already contains a model (model.safetensors); continue that run with --resume");
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), b"an earlier run", "the earlier model is untouched");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_rejects_empty_data_file() {
    let dir = temp_dir("empty");
    let file = dir.join("empty.txt");
    std::fs::write(&file, "").unwrap();
    let output = aigc(&["train", "--data", file.to_str().unwrap(), "--out", dir.join("m").to_str().unwrap(), "--steps", "1"]);
    assert_fails_with(&output, "empty");
}

#[test]
fn train_rejects_file_shorter_than_a_block() {
    let dir = temp_dir("short");
    let file = dir.join("short.txt");
    std::fs::write(&file, "To be, or not to be.").unwrap();
    let output = aigc(&["train", "--data", file.to_str().unwrap(), "--out", dir.join("m").to_str().unwrap(), "--block-size", "64", "--steps", "1"]);
    assert_fails_with(&output, "block_size + 1 = 65");
}

#[test]
fn train_rejects_non_utf8_text() {
    let dir = temp_dir("latin1");
    let file = dir.join("latin1.txt");
    std::fs::write(&file, b"caf\xe9 au lait, ".repeat(100)).unwrap();
    let output = aigc(&["train", "--data", file.to_str().unwrap(), "--out", dir.join("m").to_str().unwrap(), "--steps", "1"]);
    assert_fails_with(&output, "not valid UTF-8 (first invalid byte at offset 3)");
}

#[test]
fn train_rejects_zero_batch_size() {
    let output = aigc(&["train", "--data", shakespeare().to_str().unwrap(), "--out", "/tmp/unused", "--batch-size", "0"]);
    assert_fails_with(&output, "--batch-size 0 is invalid");
}

#[test]
fn train_rejects_unknown_preset() {
    let output = aigc(&["train", "--data", shakespeare().to_str().unwrap(), "--out", "/tmp/unused", "--preset", "huge"]);
    assert_fails_with(&output, "valid presets: tiny, small");
}

#[test]
fn train_rejects_zero_threads() {
    let output = aigc(&["--threads", "0", "train", "--data", shakespeare().to_str().unwrap(), "--out", "/tmp/unused"]);
    assert_fails_with(&output, "--threads 0 is invalid");
}

#[test]
fn generate_rejects_missing_model_dir() {
    let output = aigc(&["generate", "--model", "/nonexistent/model", "--prompt", "hi"]);
    assert_fails_with(&output, "model directory /nonexistent/model not found");
}

#[test]
fn generate_rejects_invalid_sampling() {
    let output = aigc(&["generate", "--model", "/nonexistent/model", "--prompt", "hi", "--temperature=-1"]);
    assert_fails_with(&output, "temperature -1");
}

#[test]
fn generate_rejects_unknown_quantize_value() {
    let output = aigc(&["generate", "--model", "/nonexistent/model", "--prompt", "hi", "--quantize", "q4"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "clap rejects the value as a usage error: {err}");
    assert!(err.contains("--quantize"), "the error names the flag: {err}");
    assert!(err.contains("expected f32 (no quantization, the default) or q8"), "the error lists the valid values: {err}");
}

#[test]
fn bench_reports_quantized_generation() {
    let output = aigc(&["bench", "--preset", "tiny", "--mode", "generate", "--steps", "1", "--warmup", "0", "--quantize", "q8"]);
    assert!(output.status.success(), "bench failed: {}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["quantize"], "q8");
    assert!(report["tokens_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_reports_decode_handover() {
    for (threads, expect_handover) in [("1", false), ("2", true)] {
        let args = ["bench", "--preset", "tiny", "--mode", "generate", "--steps", "1", "--warmup", "0", "--threads", threads];
        let output = aigc(&args);
        assert!(output.status.success(), "bench failed: {}", stderr(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let handover = &report["decode_handover_ns"];
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        if expect_handover && cores > 1 {
            assert!(handover.as_u64().is_some_and(|ns| ns > 0), "--threads {threads}: {report}");
        } else {
            assert!(handover.is_null(), "--threads {threads} on {cores} cores: {report}");
        }
    }
}

#[test]
fn bench_rejects_quantize_for_training() {
    let output = aigc(&["bench", "--preset", "tiny", "--mode", "train", "--steps", "1", "--quantize", "q8"]);
    assert_fails_with(&output, "--quantize q8 applies to --mode generate only");
}

#[test]
fn bench_trains_in_bf16_or_says_why_not() {
    let output = aigc(&["bench", "--preset", "tiny", "--mode", "train", "--steps", "1", "--warmup", "0", "--precision", "bf16"]);
    if aigc_tensor::gemm::Bf16Kernel::is_supported() {
        assert!(output.status.success(), "bench failed: {}", stderr(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["precision"], "bf16");
        assert!(report["tokens_per_s"].as_f64().unwrap() > 0.0);
    } else {
        assert_fails_with(&output, "--precision bf16 needs a CPU with AVX-512 BF16");
    }
}

#[test]
fn unknown_aigc_gemm_is_rejected() {
    let output = aigc_command()
        .env("AIGC_GEMM", "fp8")
        .args(["bench", "--preset", "tiny", "--mode", "train", "--steps", "1", "--warmup", "0"])
        .output()
        .expect("run aigc");
    assert_fails_with(&output, "AIGC_GEMM=\"fp8\" is not a GEMM kernel; valid names: avx2, bf16, matrixmultiply, naive; unset AIGC_GEMM");
}

#[test]
fn unknown_precision_lists_the_valid_ones() {
    let output = aigc(&["bench", "--preset", "tiny", "--mode", "train", "--precision", "fp8"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "clap rejects the value as a usage error: {err}");
    for name in ["--precision", "f32", "bf16"] {
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn eval_rejects_directory_without_config() {
    let dir = temp_dir("noconfig");
    let output = aigc(&["eval", "--model", dir.to_str().unwrap(), "--data", shakespeare().to_str().unwrap()]);
    assert_fails_with(&output, "config.json");
}
