//! Errors sent to clients in the OpenAI shape:
//! `{"error": {"message", "type", "param", "code"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error that ends a request, with the HTTP status and the fields of the
/// OpenAI error object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, in a sentence that names the value and the fix.
    pub message: String,
    /// The error class: `invalid_request_error`, `rate_limit_error`, ...
    pub kind: &'static str,
    /// The request field at fault, such as `messages[1].role`.
    pub param: Option<String>,
    /// A short machine-readable code, such as `invalid_type`.
    pub code: Option<&'static str>,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// A 400 `invalid_request_error` about the field `param`.
    pub fn invalid(param: impl Into<String>, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some(param.into()),
            code: Some(code),
            retry_after_secs: None,
        }
    }

    /// A 400 `invalid_request_error` about the body as a whole.
    pub fn invalid_body(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { param: None, ..ApiError::invalid("", code, message) }
    }

    /// A 413: the body is larger than the server accepts.
    pub fn body_too_large(limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("the request body is larger than the server's limit of {limit} bytes; send fewer or shorter messages"),
            kind: "invalid_request_error",
            param: None,
            code: Some("request_too_large"),
            retry_after_secs: None,
        }
    }

    /// A 429: every generation slot stayed busy for the whole queue wait.
    pub fn busy(max_concurrent: usize, waited_secs: f64, retry_after_secs: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "the server is busy: all {max_concurrent} generation slots stayed in use for {waited_secs:.1} s; \
                 retry after {retry_after_secs} s"
            ),
            kind: "rate_limit_error",
            param: None,
            code: Some("server_busy"),
            retry_after_secs: Some(retry_after_secs),
        }
    }

    /// A 504: generation ran past the per-request time limit.
    pub fn timed_out(limit_secs: f64) -> ApiError {
        ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            message: format!(
                "generation timed out after {limit_secs:.1} s (the server's --timeout-secs); ask for fewer tokens with max_tokens"
            ),
            kind: "timeout_error",
            param: None,
            code: Some("generation_timeout"),
            retry_after_secs: None,
        }
    }

    /// A 404 for a path the server does not serve.
    pub fn not_found(path: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no route for {path}; the API is POST /v1/chat/completions, GET /v1/models and GET /health"),
            kind: "invalid_request_error",
            param: None,
            code: Some("not_found"),
            retry_after_secs: None,
        }
    }

    /// A 500 for a failure inside the model; the message is the model's error.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: None,
            retry_after_secs: None,
        }
    }

    /// The OpenAI error object, `{"error": {...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.to_json())).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
