//! [`ServeOptions`]: how `nodefusion serve` runs, as the command line gives it (the
//! defaults and their explanations are the command's, in `src/cli/serve.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nodefusion_model::Arithmetic;

/// The settings of an embedding server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The model's name, as clients give it in `model` and `/v1/models` lists it.
    pub model: String,
    /// The model's directory.
    pub directory: PathBuf,
    /// The address to listen on (port 0: a free one).
    pub bind: SocketAddr,
    /// Encoder instances, each taking batches from the queue on its own.
    pub instances: usize,
    /// Threads each instance computes with.
    pub threads: usize,
    /// The number format of the encoder's dense products.
    pub arithmetic: Arithmetic,
    /// The most tokens one forward pass of an instance takes from the queue.
    pub batch_tokens: usize,
    /// The most tokens of admitted requests not yet answered; `None`: room for one
    /// request of `max_inputs` texts at the model's window.
    pub max_queued_tokens: Option<usize>,
    /// The longest a request waits for its vectors before a 503.
    pub max_wait: Duration,
    /// The most texts in one request.
    pub max_inputs: usize,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Characters of a text kept before tokenizing; `None`: 100 per token of the model's
    /// window.
    pub max_input_chars: Option<usize>,
    /// The longest a shutdown waits for admitted requests to finish.
    pub drain_timeout: Duration,
    /// Whether vectors are kept in and taken from the result cache (`NODEFUSION_CACHE`).
    pub cache: bool,
}
