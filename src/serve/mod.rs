//! `nodefusion serve`: the encoder of `embed()` behind OpenAI's embeddings API, for
//! services in any language.
//!
//! ```text
//! client ─ POST /v1/embeddings ─> embeddings: read, check (request), cap, tokenize,
//!                                 cache lookup, admit by tokens (429 when full)
//!                                      │ one Job per request
//!                                      v
//!                                 Queue: texts of all clients, in arrival order
//!                                      │ each idle instance takes its share, at most
//!                                      │ the token budget of a forward pass
//!                                      v
//! workers: N encoder instances ─> vectors back into each Job ─> response (float|base64)
//! ```
//!
//! - `server`: start (listen, load, warm up), serve, drain on shutdown;
//! - `routes`: the paths; `embeddings`: the handler of `/v1/embeddings`;
//! - `request` / `response`: the API's request and answer; `api_error`: its refusals;
//! - `queue` and `job`: the one queue and a request's texts in it; `workers`: the encoder
//!   instances; `service`: what handlers share; `metrics`: Prometheus text;
//!   `vector_cache`: the result cache, with `--cache`.

mod api_error;
mod embeddings;
mod job;
mod metrics;
mod options;
mod queue;
mod request;
mod response;
mod routes;
mod server;
mod service;
mod vector_cache;
mod workers;

pub use options::ServeOptions;
pub use server::{Drained, ServeError, Server};
