//! A bounded load test on loopback: 16 streaming clients chat without pause
//! for a fixed time. Every request must succeed. The test prints time to
//! first token and per-request decode speed (p50, p99) and total tokens/s.
//!
//! `AIGC_SERVE_LOAD_SECS` sets the duration (default 10 s).
//! `AIGC_SERVE_LOAD_MODEL` serves that model directory, such as one from
//! `aigc demo`, in place of the untrained test model (4 layers, width 128,
//! the size of the `tiny` preset).

mod common;
#[path = "serve/support.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const CLIENTS: usize = 16;
const MAX_TOKENS: usize = 64;

/// One finished request as a client saw it.
struct Sample {
    time_to_first_token: Duration,
    /// Tokens after the first one, per second of streaming after it.
    decode_tokens_per_sec: f64,
    completion_tokens: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

/// Sends streaming requests back to back until `until`; returns the samples
/// and the failures, each with its reason.
fn client(url: String, index: usize, until: Instant) -> (Vec<Sample>, Vec<String>) {
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    let mut request = 0u64;
    while Instant::now() < until {
        request += 1;
        let body = chat_body(
            "Tell me a story about a fox. 讲一个故事。",
            json!({ "stream": true, "max_tokens": MAX_TOKENS, "seed": index as u64 * 1000 + request,
                    "stream_options": { "include_usage": true } }),
        );
        let sent = Instant::now();
        let mut stream = match std::panic::catch_unwind(|| EventStream::open(&url, &body)) {
            Ok(stream) => stream,
            Err(_) => {
                failures.push(format!("client {index} request {request}: could not open the stream"));
                continue;
            }
        };
        let mut first_token = None;
        let mut last_token = sent;
        let mut usage = None;
        let mut done = false;
        while let Some(data) = stream.next_data() {
            if data == "[DONE]" {
                done = true;
                break;
            }
            let chunk: serde_json::Value = serde_json::from_str(&data).unwrap();
            if chunk.get("error").is_some() {
                failures.push(format!("client {index} request {request}: {chunk}"));
                break;
            }
            if delta_content(&chunk).is_some_and(|text| !text.is_empty()) {
                let now = Instant::now();
                first_token.get_or_insert(now);
                last_token = now;
            }
            if let Some(tokens) = chunk["usage"]["completion_tokens"].as_u64() {
                usage = Some(tokens);
            }
        }
        match (done, first_token, usage) {
            (true, Some(first), Some(tokens)) => {
                let streaming = last_token.duration_since(first).as_secs_f64();
                let decode_tokens_per_sec = if streaming > 0.0 { (tokens - 1) as f64 / streaming } else { f64::INFINITY };
                samples.push(Sample { time_to_first_token: first - sent, decode_tokens_per_sec, completion_tokens: tokens });
            }
            _ => failures.push(format!("client {index} request {request}: the stream ended early (done {done}, usage {usage:?})")),
        }
    }
    (samples, failures)
}

#[test]
fn sixteen_streams_without_failures() {
    let seconds: u64 = std::env::var("AIGC_SERVE_LOAD_SECS").ok().and_then(|value| value.parse().ok()).unwrap_or(10);
    let dir = match std::env::var_os("AIGC_SERVE_LOAD_MODEL") {
        Some(dir) => dir.into(),
        None => {
            let dir = temp_dir("load").join("tiny-chat");
            write_model(&dir, 4, 128, 256);
            dir
        }
    };
    let config = aigc_serve::ServeConfig {
        max_concurrent: CLIENTS,
        queue_timeout: Duration::from_secs(30),
        ..test_config()
    };
    let server = start(&dir, config);
    let url = chat_url(&server);

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let url = url.clone();
            std::thread::spawn(move || client(url, index, until))
        })
        .collect();
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    for handle in clients {
        let (client_samples, client_failures) = handle.join().unwrap();
        samples.extend(client_samples);
        failures.extend(client_failures);
    }
    let elapsed = started.elapsed().as_secs_f64();

    assert!(failures.is_empty(), "{} failed requests, first: {}", failures.len(), failures[0]);
    assert!(samples.len() >= CLIENTS, "only {} requests finished in {seconds} s", samples.len());

    let mut ttft_ms: Vec<f64> = samples.iter().map(|s| s.time_to_first_token.as_secs_f64() * 1000.0).collect();
    let mut decode: Vec<f64> = samples.iter().map(|s| s.decode_tokens_per_sec).collect();
    ttft_ms.sort_by(f64::total_cmp);
    decode.sort_by(f64::total_cmp);
    let tokens: u64 = samples.iter().map(|s| s.completion_tokens).sum();
    let health = get(&format!("{}/health", server.url())).json();
    println!(
        "load: {CLIENTS} streaming clients for {elapsed:.1} s on {}, {} requests, 0 failed; \
         time to first token p50 {:.0} ms, p99 {:.0} ms; per-request decode speed p50 {:.1} tokens/s, \
         slowest 1% {:.1} tokens/s; total {:.0} tokens/s; server: {health}",
        dir.display(),
        samples.len(),
        percentile(&ttft_ms, 50.0),
        percentile(&ttft_ms, 99.0),
        percentile(&decode, 50.0),
        percentile(&decode, 1.0),
        tokens as f64 / elapsed,
    );
    assert_eq!(health["active_generations"], 0);
    assert_eq!(health["rejected_busy"], 0);
}
