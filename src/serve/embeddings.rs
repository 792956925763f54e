//! `POST /v1/embeddings` (and `/embeddings`): the body read and checked, its texts cut to
//! the character cap and tokenized off the async runtime (truncated at the model's window
//! as sentence-transformers does), vectors the result cache keeps taken from it, the rest
//! admitted by their tokens (a 429 at once when the queue has no room), queued as one job,
//! and awaited for at most the server's bound (then a 503). A request whose client goes
//! away takes its waiting texts out of the queue.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;

use super::api_error::ApiError;
use super::job::Job;
use super::metrics::Outcome;
use super::request::{EmbeddingRequest, Served, read_request};
use super::response::embedding_list;
use super::service::Service;

/// The handler.
pub async fn embeddings(
    State(service): State<Arc<Service>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    match answer(&service, body).await {
        Ok(json) => {
            service.metrics.request(Outcome::Success);
            service
                .metrics
                .request_seconds
                .observe_duration(started.elapsed());
            ([(header::CONTENT_TYPE, "application/json")], json).into_response()
        }
        Err(error) => {
            service.metrics.request(error.outcome());
            error.into_response()
        }
    }
}

/// A request's texts, tokenized, with the vectors the cache had.
struct Prepared {
    /// The texts, each cut to the character cap.
    texts: Vec<String>,
    /// Every text's token ids, in request order.
    sequences: Vec<Vec<u32>>,
    /// Every text's kept vector, where the cache had one.
    cached: Vec<Option<Vec<f32>>>,
}

/// Cuts `texts` to the character cap, tokenizes them and looks their vectors up in the
/// cache (work for a blocking thread).
fn prepare(service: &Service, mut texts: Vec<String>) -> Result<Prepared, ApiError> {
    let loaded = service.ready()?;
    for text in &mut texts {
        if let Some((end, _)) = text.char_indices().nth(loaded.max_input_chars) {
            text.truncate(end);
        }
    }
    let borrowed: Vec<&str> = texts.iter().map(String::as_str).collect();
    let sequences = loaded
        .tokenizer
        .tokenize(&borrowed)
        .map_err(|error| ApiError::failed(format!("cannot tokenize the input: {error}")))?;
    let cached = match &service.cache {
        Some(cache) => cache.lookup(&borrowed, loaded.dimension),
        None => vec![None; texts.len()],
    };
    Ok(Prepared {
        texts,
        sequences,
        cached,
    })
}

/// A queued job of the handler: when the handler ends, answered or not (its client went
/// away, it waited too long), its waiting texts leave the queue.
struct Ticket<'a> {
    service: &'a Service,
    job: Arc<Job>,
    answered: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let dropped = self.service.queue.withdraw(&self.job);
        self.service.metrics.dropped(dropped);
        if !self.answered {
            self.service.metrics.request(Outcome::Cancelled);
        }
    }
}

/// Admits `tokens` more tokens into the queue, or says why not.
fn admit(service: &Service, tokens: usize) -> Result<OwnedSemaphorePermit, ApiError> {
    let loaded = service.ready()?;
    if tokens > loaded.max_queued_tokens {
        return Err(ApiError::too_large(format!(
            "the input is {tokens} tokens after truncation, more than this server queues at \
             once ({}, --max-queued-tokens); send fewer texts per request",
            loaded.max_queued_tokens
        )));
    }
    let permits = u32::try_from(tokens).unwrap_or(u32::MAX);
    Arc::clone(&loaded.admission)
        .try_acquire_many_owned(permits)
        .map_err(|_| {
            ApiError::overloaded(
                service.retry_after(tokens),
                format!(
                    "the server is overloaded: its queue has no room for {tokens} more tokens \
                     (--max-queued-tokens {}); retry after the time Retry-After gives",
                    loaded.max_queued_tokens
                ),
            )
        })
}

/// Computes the vectors of `sequences` through the queue.
async fn computed(service: &Service, sequences: Vec<Vec<u32>>) -> Result<Vec<f32>, ApiError> {
    let loaded = service.ready()?;
    let tokens = sequences.iter().map(Vec::len).sum();
    let _permit = admit(service, tokens)?;
    let (job, result) = Job::new(sequences, loaded.dimension);
    let mut ticket = Ticket {
        service,
        job: Arc::clone(&job),
        answered: false,
    };
    service.queue.push(job);
    let waited = tokio::time::timeout(service.options.max_wait, result).await;
    ticket.answered = true;
    match waited {
        Ok(Ok(Ok(vectors))) => Ok(vectors),
        Ok(Ok(Err(reason))) => Err(ApiError::failed(format!(
            "the model failed on this request's texts: {reason}"
        ))),
        Ok(Err(_)) => Err(ApiError::failed(
            "the encoder instance computing this request stopped",
        )),
        Err(_) => Err(ApiError::timed_out(format!(
            "the request waited {:?}, the longest this server lets a request wait \
             (--max-wait); the server is busy: try again later",
            service.options.max_wait
        ))),
    }
}

/// Keeps the vectors of `texts` (`vectors`, back to back) in the cache, if the server
/// has one, on a blocking thread of its own.
fn keep(service: &Arc<Service>, texts: Vec<String>, vectors: Vec<f32>, dimension: usize) {
    if service.cache.is_none() || texts.is_empty() {
        return;
    }
    let service = Arc::clone(service);
    tokio::task::spawn_blocking(move || {
        if let Some(cache) = &service.cache {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            cache.keep(&texts, &vectors, dimension);
        }
    });
}

/// The answer's JSON, or the refusal.
async fn answer(
    service: &Arc<Service>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let loaded = service.ready()?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(format!(
            "the body is larger than {} bytes, the most this server takes (--max-body-bytes)",
            service.options.max_body_bytes
        )),
        _ => ApiError::invalid(None, rejection.body_text()),
    })?;
    let served = Served {
        model: &service.options.model,
        dimension: loaded.dimension,
        max_inputs: service.options.max_inputs,
    };
    let EmbeddingRequest { texts, format } = read_request(&body, &served)?;
    drop(body);
    let worker = Arc::clone(service);
    let Prepared {
        texts,
        sequences,
        cached,
    } = tokio::task::spawn_blocking(move || prepare(&worker, texts))
        .await
        .map_err(|error| ApiError::failed(format!("tokenizing stopped: {error}")))??;
    let tokens = sequences.iter().map(Vec::len).sum();
    let mut missing = Vec::new();
    let mut missing_texts = Vec::new();
    for ((sequence, kept), text) in sequences.into_iter().zip(&cached).zip(texts) {
        if kept.is_none() {
            missing.push(sequence);
            missing_texts.push(text);
        }
    }
    service.metrics.cache_hits(cached.len() - missing.len());
    let fresh = if missing.is_empty() {
        Vec::new()
    } else {
        computed(service, missing).await?
    };
    let dimension = loaded.dimension;
    let mut fresh_vectors = fresh.chunks_exact(dimension);
    let mut vectors = Vec::with_capacity(cached.len() * dimension);
    for kept in &cached {
        match kept {
            Some(vector) => vectors.extend_from_slice(vector),
            None => vectors.extend_from_slice(fresh_vectors.next().unwrap_or_default()),
        }
    }
    keep(service, missing_texts, fresh, dimension);
    Ok(embedding_list(
        &vectors,
        dimension,
        format,
        &service.options.model,
        tokens,
    ))
}
