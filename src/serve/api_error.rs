//! [`ApiError`]: every refusal of the server in OpenAI's shape,
//! `{"error":{"message","type","param","code"}}`, with its status and, for an overloaded
//! queue, the `Retry-After` and `retry-after-ms` headers the OpenAI clients honour.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::metrics::Outcome;

/// A refusal: its status, what is wrong, and the OpenAI error fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// A malformed request (400) about the request field `param`, if one.
    pub fn invalid(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            param,
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
        }
    }

    /// A request larger than the server takes (413).
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            message,
        )
    }

    /// A model this server does not serve (404).
    pub fn unknown_model(message: impl Into<String>) -> Self {
        Self {
            param: Some("model"),
            code: Some("model_not_found"),
            ..Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
        }
    }

    /// A path the server does not serve (404).
    pub fn unknown_path(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    /// The queue is full (429): try again after `retry_after`.
    pub fn overloaded(retry_after: Duration, message: impl Into<String>) -> Self {
        Self {
            code: Some("rate_limit_exceeded"),
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "tokens", message)
        }
    }

    /// The request waited longer than the server's bound (503).
    pub fn timed_out(message: impl Into<String>) -> Self {
        Self {
            code: Some("timeout"),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
        }
    }

    /// The server cannot take requests now: loading or shutting down (503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: Some("unavailable"),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
        }
    }

    /// The model failed on the request's texts (500).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// How the request counts in the metrics.
    pub fn outcome(&self) -> Outcome {
        match (self.status, self.code) {
            (StatusCode::TOO_MANY_REQUESTS, _) => Outcome::Overloaded,
            (StatusCode::SERVICE_UNAVAILABLE, Some("timeout")) => Outcome::Timeout,
            (StatusCode::SERVICE_UNAVAILABLE, _) => Outcome::Unavailable,
            (status, _) if status.is_server_error() => Outcome::Failed,
            _ => Outcome::Invalid,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let headers = response.headers_mut();
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            headers.insert("retry-after-ms", HeaderValue::from(wait.as_millis() as u64));
        }
        response
    }
}
