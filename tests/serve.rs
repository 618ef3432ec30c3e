//! `aigc serve` over real HTTP on loopback: the OpenAI response shapes,
//! streaming, every rejected request with its status and error object, the
//! concurrency limit, the time limit, and a client that disconnects.

mod common;
#[path = "serve/support.rs"]
mod support;

use std::io::{Read, Write};
use std::time::Duration;

use aigc_tokenizer::{ChatTemplate, Message, Role, Tokenizer};
use serde_json::{json, Value};
use support::*;

#[test]
fn health_and_models_report_the_model() {
    let dir = small_model("health");
    let server = start(&dir, test_config());

    let health = get(&format!("{}/health", server.url()));
    assert_eq!(health.status, 200);
    let health = health.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["model"], "tiny-chat");
    assert_eq!(health["active_generations"], 0);
    assert_eq!(health["max_concurrent"], 2);

    let models = get(&format!("{}/v1/models", server.url()));
    assert_eq!(models.status, 200);
    let models = models.json();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "tiny-chat");
    assert_eq!(models["data"][0]["object"], "model");
}

#[test]
fn chat_page_is_self_contained() {
    let dir = small_model("page");
    let server = start(&dir, test_config());

    let page = get(&server.url());
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"), "content-type {}", page.content_type);
    assert!(page.text.contains(r#"<meta charset="utf-8">"#));
    assert!(page.text.contains("/v1/chat/completions"));
    assert!(page.text.contains("getReader()"), "the page should read the stream as it arrives");
    for external in ["http://", "https://", "<script src", "<link"] {
        assert!(!page.text.contains(external), "the page loads something from outside: {external}");
    }
}

#[test]
fn unknown_path_gets_openai_404() {
    let dir = small_model("notfound");
    let server = start(&dir, test_config());
    let reply = get(&format!("{}/v1/completions/nope", server.url()));
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "not_found");
}

#[test]
fn completion_has_openai_shape_and_usage() {
    let dir = small_model("completion");
    let server = start(&dir, test_config());

    let reply = post(&chat_url(&server), &chat_body("Hello!", json!({ "max_tokens": 12, "seed": 7 })));
    assert_eq!(reply.status, 200, "body {}", reply.text);
    assert!(reply.content_type.starts_with("application/json"));
    let body = reply.json();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["model"], "tiny-chat");
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert!(body["choices"][0]["message"]["content"].is_string());
    // The test model never writes <|end|>, so every reply runs to max_tokens.
    assert_eq!(body["choices"][0]["finish_reason"], "length");

    let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let prompt = ChatTemplate::new(&tokenizer).render_prompt(&[Message::new(Role::User, "Hello!")]).unwrap();
    assert_eq!(body["usage"]["prompt_tokens"], prompt.len());
    assert_eq!(body["usage"]["completion_tokens"], 12);
    assert_eq!(body["usage"]["total_tokens"], prompt.len() + 12);
}

#[test]
fn q8_model_serves_completions() {
    let dir = small_model("q8");
    let mut model = aigc_serve::ChatModel::load(&dir).unwrap();
    model.set_quantization(aigc_gpt::Quantization::Q8);
    let server = aigc_serve::spawn(model, test_config()).unwrap();

    let reply = post(&chat_url(&server), &chat_body("Hello!", json!({ "max_tokens": 12, "seed": 7 })));
    assert_eq!(reply.status, 200, "body {}", reply.text);
    let body = reply.json();
    assert!(body["choices"][0]["message"]["content"].is_string(), "body {body}");
    assert_eq!(body["usage"]["completion_tokens"], 12);
}

#[test]
fn same_seed_gives_same_reply() {
    let dir = small_model("seed");
    let server = start(&dir, test_config());
    let body = chat_body("你好", json!({ "max_tokens": 20, "seed": 42, "temperature": 1.0 }));
    let first = post(&chat_url(&server), &body).json();
    let second = post(&chat_url(&server), &body).json();
    assert_eq!(first["choices"][0]["message"], second["choices"][0]["message"]);
    let other_seed = post(&chat_url(&server), &chat_body("你好", json!({ "max_tokens": 20, "seed": 43, "temperature": 1.0 }))).json();
    assert_ne!(first["choices"][0]["message"], other_seed["choices"][0]["message"]);
}

#[test]
fn stop_string_cuts_reply() {
    let dir = small_model("stop");
    let server = start(&dir, test_config());
    let greedy = json!({ "max_tokens": 30, "temperature": 0 });
    let full = post(&chat_url(&server), &chat_body("Hello", greedy.clone())).json();
    let full = full["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    let chars: Vec<char> = full.chars().collect();
    assert!(chars.len() >= 6, "reply too short to pick a stop string from: {full:?}");

    let stop: String = chars[3..5].iter().collect();
    let cut = &full[..full.find(&stop).unwrap()];
    let mut with_stop = greedy.clone();
    with_stop["stop"] = json!([stop]);
    let reply = post(&chat_url(&server), &chat_body("Hello", with_stop)).json();
    assert_eq!(reply["choices"][0]["message"]["content"], cut);
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");

    let mut as_string = greedy;
    as_string["stop"] = json!(stop);
    let reply = post(&chat_url(&server), &chat_body("Hello", as_string)).json();
    assert_eq!(reply["choices"][0]["message"]["content"], cut, "stop as a plain string");
}

#[test]
fn stream_sends_role_deltas_finish_and_done() {
    let dir = small_model("stream");
    let server = start(&dir, test_config());
    let options = json!({ "max_tokens": 16, "seed": 3 });
    let whole = post(&chat_url(&server), &chat_body("Tell me a story", options.clone())).json();

    let mut streamed = options;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({ "include_usage": true });
    let events = EventStream::open(&chat_url(&server), &chat_body("Tell me a story", streamed)).rest();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|data| serde_json::from_str(data).unwrap()).collect();

    let first = &chunks[0];
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let id = first["id"].as_str().unwrap();
    assert!(chunks.iter().all(|chunk| chunk["id"] == id), "every chunk carries the same id");

    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], whole["usage"]);
    let last = &chunks[chunks.len() - 2];
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["choices"][0]["delta"], json!({}));

    let text: String = chunks.iter().filter_map(delta_content).collect();
    assert_eq!(text, whole["choices"][0]["message"]["content"].as_str().unwrap());
    let deltas = chunks.iter().filter(|chunk| delta_content(chunk).is_some_and(|text| !text.is_empty())).count();
    assert!(deltas > 1, "the reply should arrive in several pieces, got {deltas}");
}

#[test]
fn bad_requests_get_400_naming_the_field() {
    let dir = small_model("bad");
    let server = start(&dir, test_config());
    let user = json!({ "role": "user", "content": "hi" });
    let cases: Vec<(String, Option<&str>)> = vec![
        ("{\"messages\": [".to_string(), None),
        ("[1, 2]".to_string(), None),
        (json!({ "messages": "hi" }).to_string(), Some("messages")),
        (json!({ "messages": [] }).to_string(), Some("messages")),
        (json!({ "model": "tiny-chat" }).to_string(), Some("messages")),
        (json!({ "messages": [user, { "role": "wizard", "content": "x" }] }).to_string(), Some("messages[1].role")),
        (json!({ "messages": [{ "role": "user", "content": 12 }] }).to_string(), Some("messages[0].content")),
        (json!({ "messages": [user], "temperature": "warm" }).to_string(), Some("temperature")),
        (json!({ "messages": [user], "temperature": 3.0 }).to_string(), Some("temperature")),
        (json!({ "messages": [user], "top_p": 0.0 }).to_string(), Some("top_p")),
        (json!({ "messages": [user], "top_p": 1.01 }).to_string(), Some("top_p")),
        (json!({ "messages": [user], "max_tokens": 257 }).to_string(), Some("max_tokens")),
        (json!({ "messages": [user], "max_completion_tokens": 10_000 }).to_string(), Some("max_completion_tokens")),
        (json!({ "messages": [user], "max_tokens": "ten" }).to_string(), Some("max_tokens")),
        (json!({ "messages": [user], "stream": "yes" }).to_string(), Some("stream")),
        (json!({ "messages": [user], "stop": [""] }).to_string(), Some("stop")),
        (json!({ "messages": [user], "seed": 1.5 }).to_string(), Some("seed")),
    ];
    for (body, param) in cases {
        let reply = post(&chat_url(&server), &body);
        assert_eq!(reply.status, 400, "body {body} got {}", reply.text);
        let error = &reply.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "body {body}");
        assert_eq!(error["param"].as_str(), param, "body {body}: {error}");
        assert!(error["message"].as_str().is_some_and(|message| !message.is_empty()), "body {body}");
        assert!(error["code"].is_string(), "body {body}");
        if let Some(param) = param {
            let field = param.split(['[', '.']).next().unwrap();
            assert!(error["message"].as_str().unwrap().contains(field), "the message should name {field}: {error}");
        }
    }
}

#[test]
fn too_long_conversation_gets_400() {
    let dir = small_model("context");
    let server = start(&dir, test_config());
    let long = "hello ".repeat(400);
    let reply = post(&chat_url(&server), &chat_body(&long, json!({})));
    assert_eq!(reply.status, 400, "{}", reply.text);
    let error = &reply.json()["error"];
    assert_eq!(error["param"], "messages");
    assert_eq!(error["code"], "context_length_exceeded");
}

#[test]
fn oversized_body_gets_413() {
    let dir = small_model("body");
    let server = start(&dir, test_config());

    // The server answers from the Content-Length header and closes the
    // connection without reading the body, so the body is written from
    // another thread and a failed write there is expected.
    let huge = chat_body(&"x".repeat(100 * 1024), json!({}));
    let mut connection = std::net::TcpStream::connect(server.local_addr()).unwrap();
    connection.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        huge.len()
    );
    let mut writer = connection.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(huge.as_bytes()));
    });
    let mut response = String::new();
    let _ = connection.read_to_string(&mut response);
    sender.join().unwrap();

    assert!(response.starts_with("HTTP/1.1 413"), "response: {response}");
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let error: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"));
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(error["error"]["code"], "request_too_large");
    assert!(error["error"]["message"].as_str().unwrap().contains("65536 bytes"), "{error}");
}

#[test]
fn busy_server_queues_then_answers_429() {
    let dir = small_model("busy");
    let config = aigc_serve::ServeConfig { max_concurrent: 1, queue_timeout: Duration::from_millis(200), ..slow_config() };
    let server = start(&dir, config);

    // The one slot is taken by a slow stream of 256 tokens (over 5 s).
    let mut hog = EventStream::open(&chat_url(&server), &chat_body("hi", json!({ "stream": true, "max_tokens": 256 })));
    assert!(hog.next_chunk().is_some());
    wait_for_health(&server, Duration::from_secs(10), "the hog to start", |health| health["active_generations"] == 1);

    let started = std::time::Instant::now();
    let reply = post(&chat_url(&server), &chat_body("me too", json!({ "max_tokens": 4 })));
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert!(started.elapsed() >= Duration::from_millis(200), "the request should wait in the queue first");
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    let error = &reply.json()["error"];
    assert_eq!(error["type"], "rate_limit_error");
    assert_eq!(error["code"], "server_busy");
    assert_eq!(get(&format!("{}/health", server.url())).json()["rejected_busy"], 1);

    // Once the slot is free, a queued request goes through.
    drop(hog);
    wait_for_health(&server, Duration::from_secs(10), "the hog to stop", |health| health["active_generations"] == 0);
    let reply = post(&chat_url(&server), &chat_body("me too", json!({ "max_tokens": 4 })));
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[test]
fn time_limit_ends_generation() {
    let dir = small_model("timeout");
    let config = aigc_serve::ServeConfig { timeout: Duration::from_nanos(1), ..test_config() };
    let server = start(&dir, config);

    let reply = post(&chat_url(&server), &chat_body("hi", json!({ "max_tokens": 50 })));
    assert_eq!(reply.status, 504, "{}", reply.text);
    assert_eq!(reply.json()["error"]["code"], "generation_timeout");

    let mut stream = EventStream::open(&chat_url(&server), &chat_body("hi", json!({ "max_tokens": 50, "stream": true })));
    let role = stream.next_chunk().unwrap();
    assert_eq!(role["choices"][0]["delta"]["role"], "assistant");
    let error = stream.next_chunk().unwrap();
    assert_eq!(error["error"]["code"], "generation_timeout", "{error}");
    assert_eq!(stream.rest(), ["[DONE]"]);
    assert_eq!(get(&format!("{}/health", server.url())).json()["timed_out_generations"], 2);
}

#[test]
fn disconnect_stops_generation() {
    let dir = small_model("disconnect");
    let server = start(&dir, slow_config());

    let mut stream = EventStream::open(&chat_url(&server), &chat_body("hi", json!({ "stream": true, "max_tokens": 256 })));
    assert!(stream.next_chunk().is_some());
    assert!(stream.next_chunk().is_some());
    drop(stream);

    let health = wait_for_health(&server, Duration::from_secs(10), "the generation to stop", |health| {
        health["active_generations"] == 0
    });
    assert_eq!(health["cancelled_generations"], 1, "{health}");
    assert_eq!(health["completed_generations"], 0, "{health}");
    let tokens = health["completion_tokens"].as_u64().unwrap();
    assert!(tokens < 100, "generation should stop within a few tokens of the disconnect, ran {tokens} of 256");
}

#[test]
fn two_streams_progress_together() {
    let dir = small_model("concurrent");
    let server = start(&dir, slow_config());
    let body = chat_body("hi", json!({ "stream": true, "max_tokens": 40 }));

    // Each stream must deliver content while the other is still open and
    // unfinished: neither waits for the other to end.
    let mut first = EventStream::open(&chat_url(&server), &body);
    let mut second = EventStream::open(&chat_url(&server), &body);
    for _ in 0..3 {
        for stream in [&mut first, &mut second] {
            let chunk = stream.next_chunk().expect("the stream ended early");
            assert!(chunk["choices"][0]["finish_reason"].is_null());
        }
    }
    assert_eq!(get(&format!("{}/health", server.url())).json()["active_generations"], 2);

    for stream in [first, second] {
        let rest = stream.rest();
        assert_eq!(rest.last().map(String::as_str), Some("[DONE]"));
    }
}
