//! Real clients against the server: the official `openai` Python client,
//! and the chat page in headless Chromium.
//!
//! `.ci/serve-deps.sh` installs both. Without them each test prints a
//! notice and passes, unless `CI` is set: in CI a missing client fails.

mod common;
#[path = "serve/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// Returns whether the test can run; fails in CI when `missing` names something.
fn require(test: &str, missing: Option<String>) -> bool {
    let Some(missing) = missing else { return true };
    assert!(!in_ci(), "{test}: {missing}; CI must run it (run .ci/serve-deps.sh first)");
    println!("skipping {test}: {missing}; run .ci/serve-deps.sh to install it");
    false
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where test artefacts go: `serve-artifacts` in the cargo target directory.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    let target = if target.is_relative() { repo_root().join(target) } else { target };
    target.join("serve-artifacts")
}

#[test]
fn openai_python_client_chats() {
    let venv = std::env::var_os("AIGC_SERVE_VENV").map(PathBuf::from).unwrap_or_else(|| "/tmp/aigc-ci-venv".into());
    let python = venv.join("bin/python");
    let missing = (!python.is_file()).then(|| format!("no Python venv with openai at {}", venv.display()));
    if !require("openai_python_client_chats", missing) {
        return;
    }

    let dir = small_model("openai");
    let server = start(&dir, test_config());
    let output = Command::new(&python)
        .arg(repo_root().join("tests/serve/openai_client.py"))
        .arg(format!("{}/v1", server.url()))
        .output()
        .expect("run the openai client script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "openai_client.py failed\nstdout: {stdout}\nstderr: {stderr}");
    println!("openai client: {stdout}");

    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["model"], "tiny-chat");
    assert!(report["stream_chunks"].as_u64().unwrap() >= 3, "{report}");
}

#[test]
fn browser_page_streams_reply() {
    let node_dir = std::env::var_os("AIGC_SERVE_NODE_DIR").map(PathBuf::from).unwrap_or_else(|| "/tmp/aigc-ci-node".into());
    let chromium = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    let missing = if !chromium.is_file() {
        Some(format!("no Chromium at {}", chromium.display()))
    } else if !node_dir.join("node_modules/playwright-core/package.json").is_file() {
        Some(format!("no playwright-core under {}", node_dir.display()))
    } else {
        None
    };
    if !require("browser_page_streams_reply", missing) {
        return;
    }

    let dir = small_model("browser");
    // 10 ms per token: a 60-token reply takes over half a second, so the
    // page must show it growing.
    let server = start(&dir, aigc_serve::ServeConfig { token_delay: Duration::from_millis(10), ..test_config() });
    let screenshot = artifacts_dir().join("chat.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = Command::new("node")
        .arg(repo_root().join("tests/serve/browser_chat.cjs"))
        .arg(format!("{}/", server.url()))
        .arg(&screenshot)
        .env("AIGC_SERVE_NODE_DIR", &node_dir)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser_chat.cjs failed\nstdout: {stdout}\nstderr: {stderr}");
    println!("browser: {stdout}screenshot: {}", screenshot.display());

    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["user"], "你好！Please tell me about the weather.");
    assert!(report["updates"].as_u64().unwrap() >= 5, "the reply should grow in several steps: {report}");
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
}
