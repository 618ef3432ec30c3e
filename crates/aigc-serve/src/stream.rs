//! Streaming replies as server-sent events in the OpenAI chunk format:
//! a first `chat.completion.chunk` with the role, one per piece of text, a
//! last one with `finish_reason`, an optional usage chunk, then
//! `data: [DONE]`.

use std::convert::Infallible;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::generation::Finish;
use crate::routes::{CancelOnDrop, Job};

/// Events buffered between the generation thread and the connection; when
/// the client reads slower than the model writes, generation waits.
const CHANNEL_CAPACITY: usize = 64;

/// Starts the generation on a blocking thread and returns the event stream.
pub(crate) fn respond(job: Job) -> Response {
    let (sender, mut receiver) = mpsc::channel::<Event>(CHANNEL_CAPACITY);
    let cancelled = Arc::new(AtomicBool::new(false));
    let cancel_on_drop = CancelOnDrop(cancelled.clone());
    let include_usage = job.include_usage;

    tokio::task::spawn_blocking(move || {
        let send = |payload: Value| sender.blocking_send(Event::default().data(payload.to_string())).is_ok();
        if !send(chunk(&job, json!({ "role": "assistant", "content": "" }), None)) {
            return;
        }
        let result = job.run(&cancelled, |text| send(chunk(&job, json!({ "content": text }), None)));

        let closing = match result {
            Ok(generation) => match generation.finish {
                Finish::Stop | Finish::Length => {
                    send(chunk(&job, json!({}), Some(generation.finish.reason())));
                    if include_usage {
                        send(usage_chunk(&job, generation.completion_tokens));
                    }
                    None
                }
                Finish::Cancelled => return,
                Finish::TimedOut => Some(ApiError::timed_out(job.state.config.timeout.as_secs_f64())),
            },
            Err(error) => Some(ApiError::internal(format!("generation failed: {error}"))),
        };
        // The status line has gone out already, so an error travels as an
        // event with the error object, as OpenAI's streams send it.
        if let Some(error) = closing {
            send(error.to_json());
        }
        let _ = sender.blocking_send(Event::default().data("[DONE]"));
    });

    // The stream owns the guard: when the connection drops the body, the
    // guard sets `cancelled` and the generation loop stops.
    let events = futures_util::stream::poll_fn(move |context| {
        let _keep = &cancel_on_drop;
        receiver.poll_recv(context).map(|event| event.map(Ok::<Event, Infallible>))
    });
    Sse::new(events).into_response()
}

/// One `chat.completion.chunk` with `delta`, and `finish_reason` on the last.
fn chunk(job: &Job, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": job.request_id,
        "object": "chat.completion.chunk",
        "created": job.created,
        "model": job.state.model.id(),
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
    })
}

/// The chunk sent when `stream_options.include_usage` is set: no choices,
/// only the token counts.
fn usage_chunk(job: &Job, completion_tokens: usize) -> Value {
    let prompt_tokens = job.prompt.len();
    json!({
        "id": job.request_id,
        "object": "chat.completion.chunk",
        "created": job.created,
        "model": job.state.model.id(),
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
}
