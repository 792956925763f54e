//! The server's routes: `POST /v1/embeddings` and `/embeddings`, `GET /v1/models` (and
//! `/models`), `/health` (alive), `/ready` (200 once the model is loaded and warmed up,
//! 503 while loading or draining), `/metrics` (Prometheus text); any other path is a 404
//! in OpenAI's error shape.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::api_error::ApiError;
use super::embeddings::embeddings;
use super::service::Service;

/// The router of `service`.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/v1/embeddings", post(embeddings))
        .route("/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::max(service.options.max_body_bytes))
        .with_state(service)
}

/// The served model, in OpenAI's list shape.
async fn models(State(service): State<Arc<Service>>) -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{
            "id": service.options.model,
            "object": "model",
            "created": 0,
            "owned_by": "nodefusion",
        }],
    }))
    .into_response()
}

/// Alive.
async fn health() -> &'static str {
    "ok"
}

/// Whether requests are taken now.
async fn ready(State(service): State<Arc<Service>>) -> Response {
    match service.ready() {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The metrics, as Prometheus text.
async fn metrics(State(service): State<Arc<Service>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        service.metrics_text(),
    )
        .into_response()
}

/// Any other path.
async fn unknown_path(uri: Uri) -> ApiError {
    ApiError::unknown_path(format!(
        "no route {}: this server answers POST /v1/embeddings, GET /v1/models, /health, \
         /ready and /metrics",
        uri.path()
    ))
}
