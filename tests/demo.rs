//! `aigc demo` end to end. With stdin closed it trains, writes a complete
//! model directory and exits 0. Then `aigc chat --prompt` with greedy
//! decoding must reply to ten questions from the demo's own corpus (five
//! English, five Chinese) with the corpus answers.
//!
//! The demo trains for a few minutes, so run this test in a release build.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

fn aigc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aigc")).args(args).stdin(Stdio::null()).output().expect("run aigc")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn out_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn is_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Reads the one-turn conversations of the corpus file as (user, assistant).
fn corpus_exchanges(dir: &Path) -> Vec<(String, String)> {
    let corpus = std::fs::read_to_string(dir.join("demo_corpus.jsonl")).expect("demo_corpus.jsonl is written");
    let mut exchanges = Vec::new();
    for line in corpus.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("each corpus line is JSON");
        let messages = record["messages"].as_array().expect("a messages array");
        if let [user, assistant] = messages.as_slice() {
            assert_eq!(user["role"], "user");
            assert_eq!(assistant["role"], "assistant");
            exchanges.push((user["content"].as_str().unwrap().to_string(), assistant["content"].as_str().unwrap().to_string()));
        }
    }
    exchanges
}

/// Picks every eighth exchange in one language, up to `per_language`, so
/// the sample spans greetings, API questions and small talk.
fn sample(exchanges: &[(String, String)], chinese: bool, per_language: usize) -> Vec<(String, String)> {
    exchanges.iter().filter(|(user, _)| is_chinese(user) == chinese).step_by(8).take(per_language).cloned().collect()
}

#[test]
fn demo_trains_and_memorises_its_corpus() {
    let dir = out_dir();
    let started = Instant::now();
    let output = aigc(&["demo", "--out", dir.to_str().unwrap()]);
    let seconds = started.elapsed().as_secs_f64();
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "demo failed after {seconds:.0} s:\n{stderr}");
    println!("aigc demo took {seconds:.0} s");
    println!("{stderr}");

    for file in ["config.json", "model.safetensors", "tokenizer.json", "demo_corpus.jsonl"] {
        assert!(dir.join(file).is_file(), "{file} missing from the demo directory");
    }
    assert!(stdout.contains(&format!("aigc chat --model {}", dir.display())), "no chat hint in: {stdout}");
    assert!(stderr.contains("greedy replies match"), "no memorisation report in: {stderr}");

    let exchanges = corpus_exchanges(&dir);
    assert!(exchanges.len() >= 200, "the corpus has {} exchanges", exchanges.len());
    let mut checked = sample(&exchanges, false, 5);
    checked.extend(sample(&exchanges, true, 5));
    assert_eq!(checked.len(), 10);

    let mut wrong = Vec::new();
    for (user, expected) in &checked {
        let output = aigc(&["chat", "--model", dir.to_str().unwrap(), "--prompt", user, "--temperature", "0"]);
        assert!(output.status.success(), "chat failed on {user:?}: {}", text(&output.stderr));
        let reply = text(&output.stdout);
        if reply.trim_end_matches('\n') != expected {
            wrong.push(format!("{user:?}: expected {expected:?}, got {reply:?}"));
        }
    }
    assert!(wrong.is_empty(), "greedy replies differ from the corpus:\n{}", wrong.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
