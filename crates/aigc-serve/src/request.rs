//! Parsing and checking a `POST /v1/chat/completions` body.
//!
//! The body is read as a JSON value and each field is taken out by hand, so
//! that every error names the field at fault (`messages[2].role`,
//! `temperature`) the way the OpenAI API does. Fields this server does not
//! use (`frequency_penalty`, `user`, ...) are ignored, as OpenAI-compatible
//! servers commonly do, and `null` counts as absent.

use aigc_tokenizer::{Message, Role};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Most stop strings one request may give, as in the OpenAI API.
pub const MAX_STOP_STRINGS: usize = 4;

/// Sampling temperature when the request gives none (the `aigc chat` default).
pub const DEFAULT_TEMPERATURE: f32 = 0.8;

/// A checked chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The `model` field as sent; the reply always names the served model.
    pub model: Option<String>,
    /// The conversation, in order.
    pub messages: Vec<Message>,
    /// Softmax temperature in [0, 2]; 0 is greedy.
    pub temperature: f32,
    /// Nucleus sampling mass in (0, 1]; `None` keeps every token.
    pub top_p: Option<f32>,
    /// Keep only the `k` most likely tokens (an extension of the OpenAI schema).
    pub top_k: Option<usize>,
    /// Most tokens to generate; `None` leaves it to the server.
    pub max_tokens: Option<usize>,
    /// Strings that end the reply where they first appear.
    pub stop: Vec<String>,
    /// Seed of the sampler; `None` picks a fresh one.
    pub seed: Option<u64>,
    /// Whether to stream the reply as server-sent events.
    pub stream: bool,
    /// Whether a stream ends with a chunk that carries `usage`.
    pub include_usage: bool,
}

/// Parses a request body and checks every field against the limits.
///
/// `max_tokens_limit` is the largest `max_tokens` the server accepts.
pub fn parse_chat_request(body: &[u8], max_tokens_limit: usize) -> Result<ChatRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::invalid_body("invalid_json", format!("the request body is not valid JSON: {error}"))
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::invalid_body(
            "invalid_type",
            format!("the request body must be a JSON object, not {}", type_name(&value)),
        ));
    };

    let model = optional_string(&fields, "model")?;
    let messages = parse_messages(&fields)?;

    let temperature = optional_number(&fields, "temperature")?.unwrap_or(DEFAULT_TEMPERATURE as f64);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid("temperature", "invalid_value", format!("temperature {temperature} is out of range; use a number from 0 to 2 (0 is greedy)")));
    }
    let top_p = optional_number(&fields, "top_p")?;
    if let Some(p) = top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(ApiError::invalid("top_p", "invalid_value", format!("top_p {p} is out of range; use a number above 0 and at most 1")));
        }
    }
    let top_k = optional_integer(&fields, "top_k")?;
    if top_k == Some(0) {
        return Err(ApiError::invalid("top_k", "invalid_value", "top_k 0 keeps no token; use at least 1, or leave top_k out"));
    }

    let max_tokens = parse_max_tokens(&fields, max_tokens_limit)?;
    let stop = parse_stop(&fields)?;
    let seed = optional_seed(&fields)?;

    if let Some(n) = optional_integer(&fields, "n")? {
        if n != 1 {
            return Err(ApiError::invalid("n", "invalid_value", format!("n {n} is not supported; this server writes one choice per request (n = 1)")));
        }
    }
    let stream = optional_bool(&fields, "stream")?.unwrap_or(false);
    let include_usage = match non_null(&fields, "stream_options") {
        None => false,
        Some(Value::Object(options)) => optional_bool(options, "include_usage")
            .map_err(|error| ApiError { param: Some("stream_options.include_usage".into()), ..error })?
            .unwrap_or(false),
        Some(other) => return Err(wrong_type("stream_options", "an object", other)),
    };

    Ok(ChatRequest {
        model,
        messages,
        temperature: temperature as f32,
        top_p: top_p.map(|p| p as f32),
        top_k: top_k.map(|k| k as usize),
        max_tokens,
        stop,
        seed,
        stream,
        include_usage,
    })
}

fn parse_messages(fields: &Map<String, Value>) -> Result<Vec<Message>, ApiError> {
    let list = match non_null(fields, "messages") {
        None => return Err(ApiError::invalid("messages", "missing_required_parameter", "messages is missing; give the conversation as an array of {\"role\", \"content\"} objects")),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(wrong_type("messages", "an array", other)),
    };
    if list.is_empty() {
        return Err(ApiError::invalid("messages", "empty_array", "messages is empty; give at least one message"));
    }

    let mut messages = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let Value::Object(message) = item else {
            return Err(wrong_type(format!("messages[{index}]"), "an object with role and content", item));
        };
        let role_param = format!("messages[{index}].role");
        let role = match message.get("role") {
            None | Some(Value::Null) => {
                return Err(ApiError::invalid(role_param, "missing_required_parameter", format!("messages[{index}] has no role; use \"system\", \"user\" or \"assistant\"")));
            }
            Some(Value::String(name)) => parse_role(name).ok_or_else(|| {
                ApiError::invalid(&role_param, "invalid_value", format!("messages[{index}].role {name:?} is not a known role; use \"system\", \"user\" or \"assistant\""))
            })?,
            Some(other) => return Err(wrong_type(role_param, "a string", other)),
        };
        let content = parse_content(message.get("content"), index)?;
        messages.push(Message::new(role, content));
    }
    Ok(messages)
}

/// Maps an OpenAI role name to a chat-template role; `developer` is the
/// newer OpenAI name for `system`.
fn parse_role(name: &str) -> Option<Role> {
    match name {
        "developer" => Some(Role::System),
        _ => Role::from_name(name),
    }
}

/// Reads `content`: a string, or an array of `{"type": "text", "text": ...}`
/// parts that are joined. A `null` content (an assistant turn that only
/// called tools) is empty.
fn parse_content(content: Option<&Value>, index: usize) -> Result<String, ApiError> {
    let param = format!("messages[{index}].content");
    match content {
        None => Err(ApiError::invalid(param, "missing_required_parameter", format!("messages[{index}] has no content"))),
        Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (part_index, part) in parts.iter().enumerate() {
                let part_param = format!("{param}[{part_index}]");
                let kind = part.get("type").and_then(Value::as_str);
                match (kind, part.get("text")) {
                    (Some("text"), Some(Value::String(piece))) => text.push_str(piece),
                    (Some("text"), _) => return Err(ApiError::invalid(part_param, "invalid_type", "a text part needs a string field \"text\"")),
                    _ => {
                        return Err(ApiError::invalid(part_param, "invalid_value", "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported"));
                    }
                }
            }
            Ok(text)
        }
        Some(other) => Err(wrong_type(param, "a string or an array of text parts", other)),
    }
}

/// Reads `max_completion_tokens`, else `max_tokens` (its older name).
fn parse_max_tokens(fields: &Map<String, Value>, limit: usize) -> Result<Option<usize>, ApiError> {
    for name in ["max_completion_tokens", "max_tokens"] {
        let Some(value) = optional_integer(fields, name)? else { continue };
        if value == 0 {
            return Err(ApiError::invalid(name, "invalid_value", format!("{name} 0 is invalid; a reply needs at least 1 token")));
        }
        if value > limit as u64 {
            return Err(ApiError::invalid(name, "invalid_value", format!("{name} {value} is over the server's limit of {limit} tokens (--max-tokens-limit)")));
        }
        return Ok(Some(value as usize));
    }
    Ok(None)
}

fn parse_stop(fields: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let stops = match non_null(fields, "stop") {
        None => Vec::new(),
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(items)) => {
            let mut stops = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                match item {
                    Value::String(stop) => stops.push(stop.clone()),
                    other => return Err(wrong_type(format!("stop[{index}]"), "a string", other)),
                }
            }
            stops
        }
        Some(other) => return Err(wrong_type("stop", "a string or an array of strings", other)),
    };
    if stops.len() > MAX_STOP_STRINGS {
        return Err(ApiError::invalid("stop", "invalid_value", format!("stop has {} strings; give at most {MAX_STOP_STRINGS}", stops.len())));
    }
    if stops.iter().any(String::is_empty) {
        return Err(ApiError::invalid("stop", "invalid_value", "a stop string is empty; it would end every reply before it starts"));
    }
    Ok(stops)
}

/// Reads `seed`: any integer that fits in 64 bits, signed or not.
fn optional_seed(fields: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    match non_null(fields, "seed") {
        None => Ok(None),
        Some(Value::Number(number)) => match (number.as_u64(), number.as_i64()) {
            (Some(seed), _) => Ok(Some(seed)),
            (None, Some(seed)) => Ok(Some(seed as u64)),
            _ => Err(ApiError::invalid("seed", "invalid_type", format!("seed {number} is not an integer"))),
        },
        Some(other) => Err(wrong_type("seed", "an integer", other)),
    }
}

fn non_null<'v>(fields: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    fields.get(name).filter(|value| !value.is_null())
}

fn optional_string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match non_null(fields, name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(wrong_type(name, "a string", other)),
    }
}

fn optional_bool(fields: &Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    match non_null(fields, name) {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(other) => Err(wrong_type(name, "a boolean", other)),
    }
}

fn optional_number(fields: &Map<String, Value>, name: &str) -> Result<Option<f64>, ApiError> {
    match non_null(fields, name) {
        None => Ok(None),
        Some(Value::Number(number)) => Ok(number.as_f64()),
        Some(other) => Err(wrong_type(name, "a number", other)),
    }
}

/// Reads a non-negative integer; `3.0` is accepted, `3.5` and `-1` are not.
fn optional_integer(fields: &Map<String, Value>, name: &str) -> Result<Option<u64>, ApiError> {
    match non_null(fields, name) {
        None => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(value) = number.as_u64() {
                return Ok(Some(value));
            }
            match number.as_f64() {
                Some(value) if value >= 0.0 && value.fract() == 0.0 && value < u64::MAX as f64 => Ok(Some(value as u64)),
                _ => Err(ApiError::invalid(name, "invalid_value", format!("{name} {number} is not a non-negative integer"))),
            }
        }
        Some(other) => Err(wrong_type(name, "an integer", other)),
    }
}

fn wrong_type(param: impl Into<String>, expected: &str, found: &Value) -> ApiError {
    let param = param.into();
    let message = format!("{param} must be {expected}, not {}", type_name(found));
    ApiError::invalid(param, "invalid_type", message)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<ChatRequest, ApiError> {
        parse_chat_request(body.as_bytes(), 100)
    }

    fn param_of(body: &str) -> Option<String> {
        parse(body).expect_err("the body should be rejected").param
    }

    #[test]
    fn minimal_request_gets_defaults() {
        let request = parse(r#"{"messages": [{"role": "user", "content": "hi"}]}"#).unwrap();
        assert_eq!(request.messages, vec![Message::new(Role::User, "hi")]);
        assert_eq!(request.temperature, DEFAULT_TEMPERATURE);
        assert_eq!(request.max_tokens, None);
        assert!(!request.stream);
        assert!(request.stop.is_empty());
    }

    #[test]
    fn full_request_is_read() {
        let body = r#"{"model": "m", "messages": [{"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "你"}, {"type": "text", "text": "好"}]}],
            "temperature": 0, "top_p": 0.5, "top_k": 3, "max_tokens": 7, "stop": ["a", "b"], "seed": -1,
            "stream": true, "stream_options": {"include_usage": true}, "n": 1, "frequency_penalty": 0}"#;
        let request = parse(body).unwrap();
        assert_eq!(request.model.as_deref(), Some("m"));
        assert_eq!(request.messages[0], Message::new(Role::System, "be brief"));
        assert_eq!(request.messages[1], Message::new(Role::User, "你好"));
        assert_eq!(request.temperature, 0.0);
        assert_eq!(request.top_p, Some(0.5));
        assert_eq!(request.top_k, Some(3));
        assert_eq!(request.max_tokens, Some(7));
        assert_eq!(request.stop, ["a", "b"]);
        assert_eq!(request.seed, Some(u64::MAX));
        assert!(request.stream);
        assert!(request.include_usage);
    }

    #[test]
    fn max_completion_tokens_wins_over_max_tokens() {
        let request = parse(r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "max_completion_tokens": 9}"#).unwrap();
        assert_eq!(request.max_tokens, Some(9));
    }

    #[test]
    fn each_bad_field_is_named() {
        let user = r#"{"role": "user", "content": "x"}"#;
        let cases = [
            (r#"{"messages": []}"#.to_string(), "messages"),
            (r#"{"messages": "hi"}"#.to_string(), "messages"),
            (r#"{"model": "m"}"#.to_string(), "messages"),
            (r#"{"messages": [{"role": "user", "content": "x"}, {"role": "robot", "content": "x"}]}"#.to_string(), "messages[1].role"),
            (r#"{"messages": [{"role": 3, "content": "x"}]}"#.to_string(), "messages[0].role"),
            (r#"{"messages": [{"role": "user"}]}"#.to_string(), "messages[0].content"),
            (r#"{"messages": [{"role": "user", "content": 5}]}"#.to_string(), "messages[0].content"),
            (format!(r#"{{"messages": [{user}], "temperature": "hot"}}"#), "temperature"),
            (format!(r#"{{"messages": [{user}], "temperature": 2.5}}"#), "temperature"),
            (format!(r#"{{"messages": [{user}], "temperature": -0.1}}"#), "temperature"),
            (format!(r#"{{"messages": [{user}], "top_p": 0}}"#), "top_p"),
            (format!(r#"{{"messages": [{user}], "top_p": 1.5}}"#), "top_p"),
            (format!(r#"{{"messages": [{user}], "max_tokens": 101}}"#), "max_tokens"),
            (format!(r#"{{"messages": [{user}], "max_tokens": 0}}"#), "max_tokens"),
            (format!(r#"{{"messages": [{user}], "max_tokens": 2.5}}"#), "max_tokens"),
            (format!(r#"{{"messages": [{user}], "max_completion_tokens": 1000}}"#), "max_completion_tokens"),
            (format!(r#"{{"messages": [{user}], "stop": 1}}"#), "stop"),
            (format!(r#"{{"messages": [{user}], "stop": ["a", 1]}}"#), "stop[1]"),
            (format!(r#"{{"messages": [{user}], "stop": ""}}"#), "stop"),
            (format!(r#"{{"messages": [{user}], "stop": ["a", "b", "c", "d", "e"]}}"#), "stop"),
            (format!(r#"{{"messages": [{user}], "seed": "x"}}"#), "seed"),
            (format!(r#"{{"messages": [{user}], "stream": "yes"}}"#), "stream"),
            (format!(r#"{{"messages": [{user}], "stream_options": {{"include_usage": 1}}}}"#), "stream_options.include_usage"),
            (format!(r#"{{"messages": [{user}], "n": 2}}"#), "n"),
            (format!(r#"{{"messages": [{user}], "model": 7}}"#), "model"),
        ];
        for (body, param) in cases {
            assert_eq!(param_of(&body).as_deref(), Some(param), "body {body}");
        }
    }

    #[test]
    fn malformed_body_has_no_param() {
        for body in ["{", "[]", "\"text\"", ""] {
            let error = parse(body).expect_err(body);
            assert_eq!(error.status, 400, "body {body:?}");
            assert_eq!(error.param, None, "body {body:?}");
        }
    }

    #[test]
    fn null_fields_count_as_absent() {
        let request = parse(r#"{"messages": [{"role": "assistant", "content": null}], "temperature": null, "stop": null}"#).unwrap();
        assert_eq!(request.messages[0].content, "");
        assert_eq!(request.temperature, DEFAULT_TEMPERATURE);
    }
}
