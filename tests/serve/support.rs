//! Shared setup of the server tests: a small model directory built on the
//! spot, a server on a free loopback port, and a plain HTTP client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aigc_gpt::{Gpt, GptConfig};
use aigc_tensor::Tensor;
use aigc_tokenizer::Tokenizer;
use aigc_train::checkpoint;
use aigc_serve::{ChatModel, ServeConfig, ServerHandle};
use serde_json::Value;

pub use crate::common::temp_dir;

/// Sentences the test tokenizer learns from, English and Chinese.
const TEXTS: &[&str] = &[
    "Hello! How are you today? I am fine, thank you.",
    "The quick brown fox jumps over the lazy dog.",
    "A small model can still write a reply, one token at a time.",
    "你好！今天天气很好。我们一起去公园散步吧。",
    "谢谢你的帮助，再见。",
];

/// Writes an untrained chat model to `dir`: a BPE tokenizer trained on
/// [`TEXTS`] and a GPT with `n_layer` layers of width `n_embd`.
///
/// The model is changed so that it never writes a special token: every
/// reply runs to `max_tokens`, which makes token counts and timings
/// predictable. ln_f gets a bias of +4 on every channel and the special
/// tokens' rows of the tied embedding become all −1, so their logits are
/// (x̂ + 4)·(−1) = −4·n_embd, because the normalised x̂ sums to 0.
pub fn write_model(dir: &Path, n_layer: usize, n_embd: usize, block_size: usize) {
    let tokenizer = Tokenizer::train_from_texts(TEXTS, 320).unwrap();
    let config = GptConfig {
        vocab_size: tokenizer.vocab_size(),
        n_layer,
        n_head: 2,
        n_embd,
        block_size,
        dropout: 0.0,
        bias: true,
    };
    let gpt = Gpt::new(config).unwrap();
    gpt.ln_f.bias.as_ref().unwrap().set_value(Tensor::full(&[n_embd], 4.0)).unwrap();
    let wte = &gpt.wte.weight;
    let mut weights = wte.value().to_vec();
    for id in 0..tokenizer.vocab_size() {
        if tokenizer.is_special(id as u32) {
            weights[id * n_embd..(id + 1) * n_embd].fill(-1.0);
        }
    }
    wte.set_value(Tensor::from_vec(weights, &[tokenizer.vocab_size(), n_embd]).unwrap()).unwrap();

    checkpoint::save_gpt(dir, &gpt, checkpoint::TOKENIZER_FILE, None).unwrap();
    checkpoint::save_tokenizer(dir, &tokenizer).unwrap();
}

/// Writes a small, fast model (1 layer, width 32, 256-token context) for test `name`.
pub fn small_model(name: &str) -> PathBuf {
    let dir = temp_dir(name).join("tiny-chat");
    write_model(&dir, 1, 32, 256);
    dir
}

/// Limits for tests: 2 generations at once, a short queue, 256-token replies.
pub fn test_config() -> ServeConfig {
    ServeConfig {
        host: "127.0.0.1".into(),
        port: 0,
        max_concurrent: 2,
        queue_timeout: Duration::from_millis(300),
        max_tokens_limit: 256,
        timeout: Duration::from_secs(60),
        max_body_bytes: 64 * 1024,
        token_delay: Duration::ZERO,
    }
}

/// [`test_config`] with a 20 ms pause after each token, so that a
/// generation of a few dozen tokens is still running while a test probes
/// the server, however fast the machine.
pub fn slow_config() -> ServeConfig {
    ServeConfig { token_delay: Duration::from_millis(20), ..test_config() }
}

pub fn start(dir: &Path, config: ServeConfig) -> ServerHandle {
    let model = ChatModel::load(dir).unwrap();
    aigc_serve::spawn(model, config).unwrap()
}

/// A response: status, headers we check, and the body parsed as JSON when it is JSON.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|error| panic!("body is not JSON ({error}): {}", self.text))
    }
}

fn reply_of(response: ureq::Response) -> Reply {
    let status = response.status();
    let content_type = response.header("content-type").unwrap_or_default().to_string();
    let retry_after = response.header("retry-after").map(str::to_string);
    let text = response.into_string().unwrap();
    Reply { status, content_type, retry_after, text }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build()
}

pub fn get(url: &str) -> Reply {
    match agent().get(url).call() {
        Ok(response) | Err(ureq::Error::Status(_, response)) => reply_of(response),
        Err(error) => panic!("GET {url} failed: {error}"),
    }
}

pub fn post(url: &str, body: &str) -> Reply {
    let request = agent().post(url).set("Content-Type", "application/json");
    match request.send_string(body) {
        Ok(response) | Err(ureq::Error::Status(_, response)) => reply_of(response),
        Err(error) => panic!("POST {url} failed: {error}"),
    }
}

pub fn chat_url(server: &ServerHandle) -> String {
    format!("{}/v1/chat/completions", server.url())
}

/// Builds a chat completion body with one user message and the `extra` fields.
pub fn chat_body(message: &str, extra: Value) -> String {
    let mut body = serde_json::json!({ "model": "tiny-chat", "messages": [{ "role": "user", "content": message }] });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body.to_string()
}

/// The `data:` payloads of a server-sent event stream, read as they arrive.
pub struct EventStream {
    lines: BufReader<Box<dyn Read + Send + Sync>>,
}

impl EventStream {
    /// Posts `body` and checks that the response is an event stream.
    pub fn open(url: &str, body: &str) -> EventStream {
        let response = agent()
            .post(url)
            .set("Content-Type", "application/json")
            .send_string(body)
            .unwrap_or_else(|error| panic!("streaming POST failed: {error}"));
        assert_eq!(response.status(), 200);
        let content_type = response.header("content-type").unwrap_or_default().to_string();
        assert!(content_type.starts_with("text/event-stream"), "content-type {content_type}");
        EventStream { lines: BufReader::new(response.into_reader()) }
    }

    /// Reads the next `data:` payload, or `None` at the end of the stream.
    pub fn next_data(&mut self) -> Option<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.lines.read_line(&mut line).unwrap() == 0 {
                return None;
            }
            if let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") {
                return Some(data.trim_start().to_string());
            }
        }
    }

    /// Reads and parses the next payload; `None` at `[DONE]` or the end.
    pub fn next_chunk(&mut self) -> Option<Value> {
        let data = self.next_data()?;
        if data == "[DONE]" {
            return None;
        }
        Some(serde_json::from_str(&data).unwrap_or_else(|error| panic!("event is not JSON ({error}): {data}")))
    }

    /// Reads every remaining payload, `[DONE]` included.
    pub fn rest(mut self) -> Vec<String> {
        let mut all = Vec::new();
        while let Some(data) = self.next_data() {
            all.push(data);
        }
        all
    }
}

/// Returns the content delta of a chunk, if it has one.
pub fn delta_content(chunk: &Value) -> Option<&str> {
    chunk["choices"][0]["delta"]["content"].as_str()
}

/// Polls `/health` until `check` passes on it, or fails after `timeout`.
pub fn wait_for_health(server: &ServerHandle, timeout: Duration, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let health = get(&format!("{}/health", server.url())).json();
        if check(&health) {
            return health;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}; last /health: {health}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
