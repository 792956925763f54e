//! [`Service`]: what the request handlers share: the options, the phase (loading, ready,
//! draining), once loaded the tokenizer and the admission of tokens, the queue, the
//! metrics and the result cache.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nodefusion_model::SentenceTokenizer;
use tokio::sync::Semaphore;

use super::api_error::ApiError;
use super::metrics::{Metrics, QueueSize};
use super::options::ServeOptions;
use super::queue::Queue;
use super::vector_cache::VectorCache;

/// Characters of a text kept before tokenizing, per token of the model's window, unless
/// `--max-input-chars` says otherwise: far more than any text of that many tokens has.
const CHARS_PER_WINDOW_TOKEN: usize = 100;

/// What the server knows once its instances have loaded the model.
#[derive(Debug)]
pub struct Loaded {
    /// The model's tokenizer, truncating at its window.
    pub tokenizer: SentenceTokenizer,
    /// The length of its vectors.
    pub dimension: usize,
    /// Characters of a text kept before tokenizing.
    pub max_input_chars: usize,
    /// The most tokens of admitted requests not yet answered.
    pub max_queued_tokens: usize,
    /// One permit per token of that limit; an admitted request holds its tokens' permits.
    pub admission: Arc<Semaphore>,
}

/// The state of a server that its request handlers share.
#[derive(Debug)]
pub struct Service {
    /// How it runs.
    pub options: ServeOptions,
    /// The texts waiting for an encoder instance.
    pub queue: Arc<Queue>,
    /// What it counts.
    pub metrics: Arc<Metrics>,
    /// The result cache, with `--cache`.
    pub cache: Option<VectorCache>,
    loaded: OnceLock<Loaded>,
    draining: AtomicBool,
}

impl Service {
    /// A service that is loading its model.
    pub fn new(options: ServeOptions) -> Self {
        let cache = if options.cache {
            VectorCache::open(&options.model)
        } else {
            None
        };
        Self {
            queue: Arc::new(Queue::new(options.batch_tokens, options.instances)),
            metrics: Arc::new(Metrics::default()),
            cache,
            options,
            loaded: OnceLock::new(),
            draining: AtomicBool::new(false),
        }
    }

    /// Ready to answer: the model is loaded and warmed up, its tokenizer is `tokenizer`,
    /// its vectors have `dimension` values.
    pub fn set_loaded(&self, tokenizer: SentenceTokenizer, dimension: usize) {
        let window = tokenizer.max_length();
        let max_queued_tokens = self
            .options
            .max_queued_tokens
            .unwrap_or(self.options.max_inputs * window)
            .max(1);
        let loaded = Loaded {
            max_input_chars: self
                .options
                .max_input_chars
                .unwrap_or(CHARS_PER_WINDOW_TOKEN * window),
            tokenizer,
            dimension,
            admission: Arc::new(Semaphore::new(max_queued_tokens)),
            max_queued_tokens,
        };
        let _ = self.loaded.set(loaded);
    }

    /// From now on new requests are refused and `/ready` answers 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// What the loaded model gives, while the server takes requests; otherwise the 503
    /// that says why it does not.
    pub fn ready(&self) -> Result<&Loaded, ApiError> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(ApiError::unavailable(
                "the server is shutting down; send the request to another instance",
            ));
        }
        self.loaded.get().ok_or_else(|| {
            ApiError::unavailable(
                "the model is still loading; try again once GET /ready answers 200",
            )
        })
    }

    /// Tokens of admitted requests not yet answered.
    pub fn admitted_tokens(&self) -> usize {
        self.loaded.get().map_or(0, |loaded| {
            loaded.max_queued_tokens - loaded.admission.available_permits()
        })
    }

    /// The metrics as Prometheus text.
    pub fn metrics_text(&self) -> String {
        let (texts, tokens) = self.queue.size();
        self.metrics.render(QueueSize {
            texts,
            tokens,
            admitted_tokens: self.admitted_tokens(),
        })
    }

    /// How long until the queue has room for `tokens` more, at the rate the instances
    /// have been embedding (one second before they have embedded anything).
    pub fn retry_after(&self, tokens: usize) -> Duration {
        let Some(loaded) = self.loaded.get() else {
            return Duration::from_secs(1);
        };
        let missing = tokens.saturating_sub(loaded.admission.available_permits());
        match self.metrics.tokens_per_second(self.options.instances) {
            Some(rate) => Duration::from_secs_f64((missing as f64 / rate).clamp(0.05, 60.0)),
            None => Duration::from_secs(1),
        }
    }
}
