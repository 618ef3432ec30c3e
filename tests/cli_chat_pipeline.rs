//! The chat training pipeline as a user runs it: `aigc tokenizer train` and
//! `encode`, BPE pretraining with `aigc train --tokenizer`, fine-tuning with
//! `aigc sft`, and every bad input these commands must reject with one
//! clear message and a non-zero exit code (never a panic).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::{aigc, shakespeare, stderr, temp_dir};

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Asserts a clean failure as [`common::assert_fails_with`] does, with exactly one `error:` line.
fn assert_fails_with(output: &Output, needle: &str) {
    common::assert_fails_with(output, needle);
    let err = stderr(output);
    assert_eq!(err.matches("error:").count(), 1, "expected one error line in: {err}");
}

/// Writes `lines` as a JSONL file of chat records and returns its path.
fn write_jsonl(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn record(user: &str, assistant: &str) -> String {
    serde_json::json!({"messages": [
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]})
    .to_string()
}

/// Forty small English and Chinese exchanges, all different.
fn small_chat_records() -> Vec<String> {
    let pairs = [
        ("hello", "hi there"),
        ("how are you?", "fine, thanks"),
        ("what is your name?", "I am aigc"),
        ("good morning", "good morning to you"),
        ("bye", "goodbye"),
        ("thank you", "you are welcome"),
        ("who are you?", "a small chat model"),
        ("what do you like?", "I like words"),
        ("你好", "你好！"),
        ("谢谢", "不客气"),
    ];
    (0..4).flat_map(|round| pairs.iter().map(move |(user, assistant)| record(&format!("{user}{}", "!".repeat(round)), assistant))).collect()
}

/// Trains a BPE tokenizer on the first 60 kB of Tiny Shakespeare plus a
/// little Chinese, and a BPE model on the same text for a few steps.
/// Returns the model directory.
fn train_bpe_model(dir: &Path, vocab_size: usize) -> PathBuf {
    let text = std::fs::read_to_string(shakespeare()).unwrap();
    let corpus = dir.join("corpus.txt");
    let chinese = "你好！谢谢，不客气。我是一个小模型。\n".repeat(50);
    std::fs::write(&corpus, format!("{}\n{chinese}", &text[..60_000])).unwrap();

    let tokenizer = dir.join("tokenizer.json");
    let vocab = vocab_size.to_string();
    let output = aigc(&["tokenizer", "train", "--data", path_str(&corpus), "--vocab-size", &vocab, "--out", path_str(&tokenizer)]);
    assert!(output.status.success(), "tokenizer train failed: {}", stderr(&output));

    let model = dir.join("pretrained");
    let output = aigc(&[
        "train", "--tokenizer", path_str(&tokenizer), "--data", path_str(&corpus), "--out", path_str(&model),
        "--block-size", "32", "--batch-size", "8", "--steps", "20", "--eval-interval", "20", "--log-interval", "10",
    ]);
    assert!(output.status.success(), "BPE pretraining failed: {}", stderr(&output));
    model
}

/// Returns a small BPE model directory shared by the bad-input tests, trained on first use.
fn shared_bpe_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| train_bpe_model(&temp_dir("shared"), 400))
}

#[test]
fn tokenizer_train_and_encode_shakespeare() {
    let dir = temp_dir("tokenizer");
    let tokenizer = dir.join("nested/tokenizer.json");
    let data = shakespeare();
    let output = aigc(&["tokenizer", "train", "--data", path_str(&data), "--vocab-size", "1024", "--out", path_str(&tokenizer)]);
    assert!(output.status.success(), "tokenizer train failed: {}", stderr(&output));
    assert!(tokenizer.is_file(), "the parent directory of --out is created");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["vocab_size"], 1024);

    let output = aigc(&["tokenizer", "encode", "--tokenizer", path_str(&tokenizer), "--data", path_str(&data)]);
    assert!(output.status.success(), "tokenizer encode failed: {}", stderr(&output));
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let tokens = report["tokens"].as_u64().unwrap();
    let tokens_per_byte = report["tokens_per_byte"].as_f64().unwrap();
    assert_eq!(report["bytes"], 1_115_394);
    assert!((tokens_per_byte - tokens as f64 / 1_115_394.0).abs() < 1e-9);
    // 1024 tokens compress English to well under one token per byte.
    assert!(tokens_per_byte > 0.25, "tokens per byte {tokens_per_byte}");
    assert!(tokens_per_byte < 0.55, "tokens per byte {tokens_per_byte}");
    assert!(report["mb_per_s"].as_f64().unwrap() > 0.0);
    assert!(stderr(&output).contains("tokens per byte"), "a human summary on stderr: {}", stderr(&output));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bpe_pretrain_then_sft() {
    let dir = temp_dir("pipeline");
    let model = train_bpe_model(&dir, 512);
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["tokenizer"], "tokenizer.json");
    assert_eq!(config["config"]["vocab_size"], 512, "the model's vocabulary is the tokenizer's");
    assert!(model.join("tokenizer.json").is_file());

    // The BPE model generates and evaluates through its tokenizer.
    let output = aigc(&["generate", "--model", path_str(&model), "--prompt", "ROMEO:", "--max-tokens", "10"]);
    assert!(output.status.success(), "generate failed: {}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("ROMEO:"));
    let corpus = dir.join("corpus.txt");
    let output = aigc(&["eval", "--model", path_str(&model), "--data", path_str(&corpus)]);
    assert!(output.status.success(), "eval failed: {}", stderr(&output));
    let eval: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (nats, tokens, bytes) =
        (eval["val_loss"].as_f64().unwrap(), eval["val_tokens"].as_f64().unwrap(), eval["val_bytes"].as_f64().unwrap());
    assert!(bytes > tokens, "BPE tokens span several bytes: {eval}");
    let expected_bits = nats * tokens / std::f64::consts::LN_2 / bytes;
    assert!((eval["bits_per_byte"].as_f64().unwrap() - expected_bits).abs() < 1e-6, "bits per byte counts UTF-8 bytes: {eval}");

    let chat = write_jsonl(&dir, "chat.jsonl", &small_chat_records());
    let out = dir.join("chat-model");
    let output = aigc(&[
        "sft", "--model", path_str(&model), "--data", path_str(&chat), "--out", path_str(&out),
        "--steps", "30", "--lr", "1e-3", "--batch-size", "8", "--eval-interval", "15", "--samples", "2", "--sample-tokens", "8",
    ]);
    assert!(output.status.success(), "sft failed: {}", stderr(&output));
    for file in ["config.json", "model.safetensors", "tokenizer.json", "train_log.jsonl", "sft_report.json", "heldout.jsonl"] {
        assert!(out.join(file).is_file(), "{file} missing from the fine-tuned model directory");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("sft_report.json")).unwrap()).unwrap();
    assert_eq!(report["conversations"], 40);
    assert_eq!(report["heldout_conversations"], 4, "10 % of 40 conversations are held out");
    assert_eq!(report["train_conversations"], 36);
    let heldout = std::fs::read_to_string(out.join("heldout.jsonl")).unwrap();
    assert_eq!(heldout.lines().count(), 4, "heldout.jsonl lists the held-out conversations");
    for line in heldout.lines() {
        assert!(small_chat_records().contains(&line.to_string()), "{line} is one of the input records");
    }
    assert_eq!(report["samples"].as_array().unwrap().len(), 2);
    let before = report["heldout_loss_before"].as_f64().unwrap();
    let after = report["heldout_loss_after"].as_f64().unwrap();
    assert!(after < before, "fine-tuning lowers the held-out assistant-token loss: {before} -> {after}");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["heldout_loss_after"], report["heldout_loss_after"], "stdout and the report agree");

    // The fine-tuned directory is a complete model directory.
    let output = aigc(&["generate", "--model", path_str(&out), "--prompt", "hello", "--max-tokens", "5"]);
    assert!(output.status.success(), "generate on the fine-tuned model failed: {}", stderr(&output));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `aigc sft` on the shared BPE model with `data`, for one step.
fn sft_on(data: &Path, out: &Path) -> Output {
    aigc(&["sft", "--model", path_str(shared_bpe_model()), "--data", path_str(data), "--out", path_str(out), "--steps", "1"])
}

#[test]
fn sft_rejects_malformed_jsonl() {
    let dir = temp_dir("malformed");
    let mut lines = small_chat_records();
    lines.insert(2, r#"{"messages": [{"role": "user", "content": "hi"}"#.to_string());
    let data = write_jsonl(&dir, "bad.jsonl", &lines);
    assert_fails_with(&sft_on(&data, &dir.join("out")), "line 3: malformed JSON");
}

#[test]
fn sft_rejects_conversation_without_assistant() {
    let dir = temp_dir("noassistant");
    let line = serde_json::json!({"messages": [{"role": "user", "content": "is anyone there?"}]}).to_string();
    let data = write_jsonl(&dir, "lonely.jsonl", &[line]);
    assert_fails_with(&sft_on(&data, &dir.join("out")), "line 1: conversation has no assistant turn");
}

#[test]
fn sft_rejects_unknown_role() {
    let dir = temp_dir("role");
    let line = serde_json::json!({"messages": [
        {"role": "user", "content": "hi"},
        {"role": "bot", "content": "hello"},
    ]})
    .to_string();
    let data = write_jsonl(&dir, "role.jsonl", &[line]);
    assert_fails_with(&sft_on(&data, &dir.join("out")), "unknown role \"bot\"");
}

#[test]
fn sft_rejects_empty_file() {
    let dir = temp_dir("emptychat");
    let data = dir.join("empty.jsonl");
    std::fs::write(&data, "").unwrap();
    assert_fails_with(&sft_on(&data, &dir.join("out")), "file has no conversations");
}

#[test]
fn sft_warns_about_skipped_conversations() {
    let dir = temp_dir("skipped");
    let mut lines = small_chat_records();
    lines.push(serde_json::json!({"messages": [{"role": "user", "content": "anyone?"}]}).to_string());
    let data = write_jsonl(&dir, "mixed.jsonl", &lines);
    let output = sft_on(&data, &dir.join("out"));
    assert!(output.status.success(), "one bad record does not stop fine-tuning: {}", stderr(&output));
    assert!(stderr(&output).contains("line 41: conversation has no assistant turn"), "warning names the line: {}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out/sft_report.json")).unwrap()).unwrap();
    assert_eq!(report["skipped"], 1);
}

#[test]
fn sft_rejects_tokenizer_vocabulary_mismatch() {
    let dir = temp_dir("mismatch");
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(shared_bpe_model().join(file), model.join(file)).unwrap();
    }
    // A tokenizer of another size in place of the model's own.
    let text = dir.join("text.txt");
    std::fs::write(&text, "the quick brown fox jumps over the lazy dog\n".repeat(200)).unwrap();
    let output = aigc(&["tokenizer", "train", "--data", path_str(&text), "--vocab-size", "300", "--out", path_str(&model.join("tokenizer.json"))]);
    assert!(output.status.success(), "tokenizer train failed: {}", stderr(&output));

    let data = write_jsonl(&dir, "chat.jsonl", &small_chat_records());
    let output = aigc(&["sft", "--model", path_str(&model), "--data", path_str(&data), "--out", path_str(&dir.join("out")), "--steps", "1"]);
    assert_fails_with(&output, "but the model's vocab_size is 400");
}

#[test]
fn sft_rejects_byte_level_model() {
    let dir = temp_dir("bytelevel");
    let model = dir.join("bytes");
    let output = aigc(&[
        "train", "--data", path_str(&shakespeare()), "--out", path_str(&model), "--block-size", "16", "--batch-size", "2",
        "--steps", "1",
    ]);
    assert!(output.status.success(), "byte-level training failed: {}", stderr(&output));
    let data = write_jsonl(&dir, "chat.jsonl", &small_chat_records());
    let output = aigc(&["sft", "--model", path_str(&model), "--data", path_str(&data), "--out", path_str(&dir.join("out")), "--steps", "1"]);
    assert_fails_with(&output, "is a byte-level model");
    assert!(stderr(&output).contains("--tokenizer"), "the message says how to pretrain a BPE model: {}", stderr(&output));
}

#[test]
fn sft_rejects_out_equal_to_model() {
    let model = shared_bpe_model();
    let dir = temp_dir("samedir");
    let data = write_jsonl(&dir, "chat.jsonl", &small_chat_records());
    let output = aigc(&["sft", "--model", path_str(model), "--data", path_str(&data), "--out", path_str(model), "--steps", "1"]);
    assert_fails_with(&output, "is the --model directory");
}

#[test]
fn tokenizer_train_rejects_small_vocabulary() {
    let output = aigc(&["tokenizer", "train", "--data", path_str(&shakespeare()), "--vocab-size", "100", "--out", "/tmp/unused.json"]);
    assert_fails_with(&output, "--vocab-size 100 is too small; the minimum is 262");
}

#[test]
fn tokenizer_train_rejects_missing_file() {
    let dir = temp_dir("nofile");
    let missing = dir.join("nope.txt");
    let output = aigc(&["tokenizer", "train", "--data", path_str(&missing), "--vocab-size", "500", "--out", path_str(&dir.join("t.json"))]);
    assert_fails_with(&output, "could not read --data");
    assert!(stderr(&output).contains("nope.txt"));
}

#[test]
fn tokenizer_train_rejects_non_utf8_text() {
    let dir = temp_dir("latin1tok");
    let file = dir.join("latin1.txt");
    std::fs::write(&file, b"caf\xe9 au lait\n".repeat(100)).unwrap();
    let output = aigc(&["tokenizer", "train", "--data", path_str(&file), "--vocab-size", "300", "--out", path_str(&dir.join("t.json"))]);
    assert_fails_with(&output, "is not valid UTF-8");
}

#[test]
fn tokenizer_encode_rejects_invalid_tokenizer_file() {
    let dir = temp_dir("badtok");
    let tokenizer = dir.join("tokenizer.json");
    std::fs::write(&tokenizer, "{\"not\": \"a tokenizer\"}").unwrap();
    let output = aigc(&["tokenizer", "encode", "--tokenizer", path_str(&tokenizer), "--data", path_str(&shakespeare())]);
    assert_fails_with(&output, "invalid tokenizer file");
}

#[test]
fn train_rejects_missing_tokenizer() {
    let dir = temp_dir("notok");
    let output = aigc(&[
        "train", "--tokenizer", path_str(&dir.join("missing.json")), "--data", path_str(&shakespeare()), "--out",
        path_str(&dir.join("m")), "--steps", "1",
    ]);
    assert_fails_with(&output, "--tokenizer");
    assert!(stderr(&output).contains("missing.json not found"), "{}", stderr(&output));
}
