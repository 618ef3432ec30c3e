//! The HTTP routes and the path of a chat request: parse, render the
//! prompt, wait for a generation slot, generate on a blocking thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aigc_gpt::SamplingConfig;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::ApiError;
use crate::generation::{Control, Finish, Generation, GenerationOptions};
use crate::request::parse_chat_request;
use crate::{stream, AppState};

/// The chat page: one HTML file with its CSS and JavaScript inline.
const INDEX_HTML: &str = include_str!("../static/index.html");

/// Seconds a client should wait before retrying after a 429 (`Retry-After`).
const RETRY_AFTER_SECS: u64 = 1;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(index))
        // The page has no icon; 204 stops browsers from logging a 404 for it.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}

async fn models(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({
        "object": "list",
        "data": [{ "id": state.model.id(), "object": "model", "created": 0, "owned_by": "aigc" }],
    }))
}

async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let mut body = json!({
        "status": "ok",
        "model": state.model.id(),
        "max_concurrent": state.config.max_concurrent,
    });
    if let (Some(body), serde_json::Value::Object(stats)) = (body.as_object_mut(), state.stats.to_json()) {
        body.extend(stats);
    }
    Json(body)
}

async fn not_found(uri: Uri) -> Response {
    ApiError::not_found(uri.path()).into_response()
}

/// A request that passed every check, with the generation slot it occupies.
pub(crate) struct Job {
    pub state: Arc<AppState>,
    pub request_id: String,
    pub created: u64,
    pub prompt: Vec<u32>,
    pub options: GenerationOptions,
    pub stream: bool,
    /// Whether a stream ends with a usage chunk.
    pub include_usage: bool,
    pub received: Instant,
    /// Released when the job is dropped, at the end of generation.
    pub _permit: OwnedSemaphorePermit,
}

impl Job {
    /// Runs the generation on the current (blocking) thread, keeping the
    /// counters and logging the outcome.
    pub fn run(&self, cancelled: &AtomicBool, on_text: impl FnMut(&str) -> bool) -> aigc_tensor::Result<Generation> {
        let stats = &self.state.stats;
        stats.active.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let config = &self.state.config;
        let control = Control { cancelled, deadline: started + config.timeout, token_delay: config.token_delay };
        let result = self.state.model.generate(&self.prompt, &self.options, &control, on_text);
        stats.active.fetch_sub(1, Ordering::Relaxed);

        let latency_ms = self.received.elapsed().as_millis() as u64;
        let queue_ms = started.duration_since(self.received).as_millis() as u64;
        let (id, prompt_tokens, stream) = (&self.request_id, self.prompt.len(), self.stream);
        match &result {
            Ok(generation) => {
                let tokens = generation.completion_tokens;
                stats.completion_tokens.fetch_add(tokens as u64, Ordering::Relaxed);
                let finish = generation.finish.reason();
                match generation.finish {
                    Finish::Stop | Finish::Length => {
                        stats.completed.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(request_id = %id, status = 200, stream, prompt_tokens, completion_tokens = tokens, finish, queue_ms, latency_ms, "chat completion");
                    }
                    Finish::Cancelled => {
                        stats.cancelled.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(request_id = %id, stream, prompt_tokens, completion_tokens = tokens, latency_ms, "client disconnected; generation stopped");
                    }
                    Finish::TimedOut => {
                        stats.timed_out.fetch_add(1, Ordering::Relaxed);
                        let limit_s = self.state.config.timeout.as_secs_f64();
                        tracing::warn!(request_id = %id, status = 504, stream, prompt_tokens, completion_tokens = tokens, limit_s, latency_ms, "generation timed out");
                    }
                }
            }
            Err(error) => tracing::error!(request_id = %id, status = 500, stream, %error, latency_ms, "generation failed"),
        }
        result
    }
}

/// Sets the flag when dropped: a dropped response body or handler future
/// means the client is gone, so the generation loop should stop.
pub(crate) struct CancelOnDrop(pub Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn chat_completions(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    let received = Instant::now();
    let request_id = new_request_id(&state);
    let mut response = match prepare(&state, &request_id, body, received).await {
        Ok(job) if job.stream => stream::respond(job),
        Ok(job) => complete(job).await,
        Err(error) => {
            let latency_ms = received.elapsed().as_millis() as u64;
            tracing::warn!(request_id = %request_id, status = error.status.as_u16(), param = ?error.param, error = %error.message, latency_ms, "request rejected");
            error.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Checks the request, renders the prompt and waits for a generation slot.
async fn prepare(
    state: &Arc<AppState>,
    request_id: &str,
    body: Result<Bytes, BytesRejection>,
    received: Instant,
) -> Result<Job, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(state.config.max_body_bytes)
        } else {
            ApiError::invalid_body("invalid_body", format!("could not read the request body: {rejection}"))
        }
    })?;
    let request = parse_chat_request(&body, state.config.max_tokens_limit)?;
    let prompt = state.model.render_prompt(&request.messages)?;
    let sampling = SamplingConfig {
        temperature: request.temperature,
        top_k: request.top_k,
        top_p: request.top_p,
        repetition_penalty: 1.0,
    };
    sampling.validate().map_err(|error| ApiError::invalid_body("invalid_value", error.to_string()))?;
    let options = GenerationOptions {
        sampling,
        max_tokens: request.max_tokens.unwrap_or(state.config.max_tokens_limit),
        stop: request.stop,
        seed: request.seed.unwrap_or_else(|| fresh_seed(state)),
    };

    let permit = acquire_slot(state).await?;
    Ok(Job {
        state: state.clone(),
        request_id: request_id.to_string(),
        created: unix_seconds(),
        prompt,
        options,
        stream: request.stream,
        include_usage: request.include_usage,
        received,
        _permit: permit,
    })
}

/// Waits up to the queue timeout for one of the `max_concurrent` slots.
async fn acquire_slot(state: &Arc<AppState>) -> Result<OwnedSemaphorePermit, ApiError> {
    let stats = &state.stats;
    stats.queued.fetch_add(1, Ordering::Relaxed);
    let waited = Instant::now();
    let acquired = tokio::time::timeout(state.config.queue_timeout, state.slots.clone().acquire_owned()).await;
    stats.queued.fetch_sub(1, Ordering::Relaxed);
    match acquired {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_closed)) => Err(ApiError::internal("the generation slots are closed; the server is shutting down")),
        Err(_elapsed) => {
            stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::busy(state.config.max_concurrent, waited.elapsed().as_secs_f64(), RETRY_AFTER_SECS))
        }
    }
}

/// Generates the whole reply, then returns it as one `chat.completion`.
async fn complete(job: Job) -> Response {
    let cancelled = Arc::new(AtomicBool::new(false));
    // Dropped with this future when the client disconnects before the reply.
    let _cancel_on_drop = CancelOnDrop(cancelled.clone());
    let job = Arc::new(job);
    let worker = job.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let generation = worker.run(&cancelled, |piece| {
            text.push_str(piece);
            true
        });
        generation.map(|generation| (text, generation))
    })
    .await;

    let (text, generation) = match result {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => return ApiError::internal(format!("generation failed: {error}")).into_response(),
        Err(join_error) => return ApiError::internal(format!("the generation thread failed: {join_error}")).into_response(),
    };
    if generation.finish == Finish::TimedOut {
        return ApiError::timed_out(job.state.config.timeout.as_secs_f64()).into_response();
    }
    let prompt_tokens = job.prompt.len();
    let completion_tokens = generation.completion_tokens;
    Json(json!({
        "id": job.request_id,
        "object": "chat.completion",
        "created": job.created,
        "model": job.state.model.id(),
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": text },
            "logprobs": null,
            "finish_reason": generation.finish.reason(),
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response()
}

fn new_request_id(state: &AppState) -> String {
    let number = state.next_request.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{:08x}{number:06x}", unix_seconds() as u32)
}

/// Picks a seed for a request without one: the clock mixed with the
/// request count (splitmix64), so two requests in the same nanosecond differ.
fn fresh_seed(state: &AppState) -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_nanos() as u64;
    let mut z = nanos ^ state.next_request.load(Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}
