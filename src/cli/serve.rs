//! `nodefusion serve`: the embedding server, started with its options, running until
//! SIGTERM or Ctrl-C, then drained.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use nodefusion::serve::{Drained, ServeOptions, Server};
use nodefusion_model::{Arithmetic, DEFAULT_MODEL, TOKENS_PER_FORWARD};
use tokio::signal::unix::{SignalKind, signal};

/// A number of seconds, as a duration.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("'{text}' is not a number of seconds"))
}

/// The options of `nodefusion serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The model to serve: a name (installed on first use, as `embed` does) or a model
    /// directory. Requests may name it in full or by the part after the organisation.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// The address to listen on; port 0 picks a free one. Once the model is loaded and
    /// warmed up, the server prints `listening on http://HOST:PORT`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Encoder instances, each taking its own batches from the queue [default: one per
    /// core, as `embed` runs].
    #[arg(long)]
    instances: Option<NonZeroUsize>,
    /// Threads each instance computes with.
    #[arg(long, default_value = "1")]
    threads: NonZeroUsize,
    /// The number format of the encoder's dense products: fp32, bf16 or int16 [default:
    /// the fastest this CPU has, as `embed`].
    #[arg(long)]
    precision: Option<Arithmetic>,
    /// The most tokens an instance takes from the queue for one batch: texts of different
    /// requests packed into one forward pass, without padding. An idle instance never
    /// waits for a batch to fill.
    #[arg(long, default_value_t = NonZeroUsize::new(TOKENS_PER_FORWARD).unwrap_or(NonZeroUsize::MIN))]
    batch_tokens: NonZeroUsize,
    /// The most tokens of admitted requests not yet answered (what bounds memory); past
    /// it a request gets a 429 at once, with Retry-After [default: room for one request of
    /// --max-inputs texts at the model's window: 2048 x 256 tokens for MiniLM].
    #[arg(long)]
    max_queued_tokens: Option<NonZeroUsize>,
    /// Seconds a request may wait for its vectors; then it gets a 503.
    #[arg(long, default_value = "60", value_parser = seconds)]
    max_wait: Duration,
    /// The most texts in one request (400 beyond).
    #[arg(long, default_value = "2048")]
    max_inputs: NonZeroUsize,
    /// The largest request body, in bytes (413 beyond).
    #[arg(long, default_value = "16777216")]
    max_body_bytes: NonZeroUsize,
    /// Characters of a text kept before tokenizing, so that a huge text cannot stall the
    /// server; the model's window cuts texts far shorter [default: 100 per token of the
    /// window].
    #[arg(long)]
    max_input_chars: Option<NonZeroUsize>,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for admitted requests to finish.
    #[arg(long, default_value = "30", value_parser = seconds)]
    drain_timeout: Duration,
    /// Keep vectors in the result cache (NODEFUSION_CACHE) and answer repeated texts
    /// from it.
    #[arg(long)]
    cache: bool,
}

/// Runs the server until SIGTERM or Ctrl-C, then drains it.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let directory = super::model::installed_or_pulled(&args.model).await?;
    let options = ServeOptions {
        model: args.model,
        directory,
        bind: args.bind,
        instances: args.instances.map_or_else(
            || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            NonZeroUsize::get,
        ),
        threads: args.threads.get(),
        arithmetic: args.precision.unwrap_or_else(Arithmetic::fastest),
        batch_tokens: args.batch_tokens.get(),
        max_queued_tokens: args.max_queued_tokens.map(NonZeroUsize::get),
        max_wait: args.max_wait,
        max_inputs: args.max_inputs.get(),
        max_body_bytes: args.max_body_bytes.get(),
        max_input_chars: args.max_input_chars.map(NonZeroUsize::get),
        drain_timeout: args.drain_timeout,
        cache: args.cache,
    };
    let server = tokio::select! {
        started = Server::start(options) => started?,
        _ = interrupt.recv() => return Ok(()),
        _ = terminate.recv() => return Ok(()),
    };
    out!("listening on http://{}", server.address())?;
    let stopped = async {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    if let Drained::DeadlinePassed { unanswered_tokens } = server.run(stopped).await? {
        eprintln!(
            "nodefusion serve: stopped at the drain deadline (--drain-timeout) with requests \
             of {unanswered_tokens} tokens unanswered"
        );
    }
    Ok(())
}
