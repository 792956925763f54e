//! [`Metrics`]: what the server counts, written as Prometheus text for `GET /metrics`:
//! requests by outcome, texts and tokens embedded, texts dropped from the queue, cache
//! hits, the queue's size, batch sizes in texts and tokens, and the time requests spend
//! queued, batches spend in the encoder and requests spend in all.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How a request to `/v1/embeddings` ended (in the order of [`Outcome::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with its vectors.
    Success,
    /// Refused as malformed or out of limits (a 4xx other than 429).
    Invalid,
    /// Refused because the queue was full (429).
    Overloaded,
    /// Waited longer than the server's bound (503).
    Timeout,
    /// Refused while the model loads or the server drains (503).
    Unavailable,
    /// Its batch failed in the encoder (500).
    Failed,
    /// Its client went away before the answer.
    Cancelled,
}

impl Outcome {
    const ALL: [Outcome; 7] = [
        Outcome::Success,
        Outcome::Invalid,
        Outcome::Overloaded,
        Outcome::Timeout,
        Outcome::Unavailable,
        Outcome::Failed,
        Outcome::Cancelled,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Invalid => "invalid",
            Outcome::Overloaded => "overloaded",
            Outcome::Timeout => "timeout",
            Outcome::Unavailable => "unavailable",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// A Prometheus histogram: counts of observations at or below each bound, their sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// One per bound, then one for larger values.
    counts: Vec<AtomicU64>,
    /// The sum's `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with bounds `first`, `first * 2`, ... up to `last`.
    fn doubling(first: f64, last: f64) -> Self {
        let bounds: Vec<f64> = std::iter::successors(Some(first), |bound| Some(bound * 2.0))
            .take_while(|bound| *bound <= last)
            .collect();
        Self {
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            bounds,
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Counts `value`.
    pub fn observe(&self, value: f64) {
        let slot = self.bounds.partition_point(|bound| *bound < value);
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    /// The sum of the values counted.
    fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// Counts a duration, in seconds.
    pub fn observe_duration(&self, duration: Duration) {
        self.observe(duration.as_secs_f64());
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        let sum = self.sum();
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {cumulative}\n{name}_sum {sum}\n{name}_count {cumulative}"
        );
    }
}

/// The queue's state when the metrics are written.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueSize {
    /// Texts waiting for an encoder instance.
    pub texts: usize,
    /// Their tokens.
    pub tokens: usize,
    /// Tokens of admitted requests not yet answered (the admission limit counts these).
    pub admitted_tokens: usize,
}

/// Everything the server counts.
#[derive(Debug)]
pub struct Metrics {
    requests: [AtomicU64; Outcome::ALL.len()],
    texts: AtomicU64,
    tokens: AtomicU64,
    dropped_texts: AtomicU64,
    cache_hits: AtomicU64,
    /// Texts per forward pass.
    pub batch_texts: Histogram,
    /// Tokens per forward pass.
    pub batch_tokens: Histogram,
    /// From a request's arrival in the queue to an instance taking its first text.
    pub queue_seconds: Histogram,
    /// One forward pass.
    pub inference_seconds: Histogram,
    /// A successful request, from its body read to its answer.
    pub request_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Default::default(),
            texts: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            dropped_texts: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            batch_texts: Histogram::doubling(1.0, 4096.0),
            batch_tokens: Histogram::doubling(8.0, 65536.0),
            queue_seconds: Histogram::doubling(0.0005, 128.0),
            inference_seconds: Histogram::doubling(0.0005, 128.0),
            request_seconds: Histogram::doubling(0.0005, 128.0),
        }
    }
}

impl Metrics {
    /// Counts a request that ended with `outcome`.
    pub fn request(&self, outcome: Outcome) {
        self.requests[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `texts` texts of `tokens` tokens embedded.
    pub fn embedded(&self, texts: usize, tokens: usize) {
        self.texts.fetch_add(texts as u64, Ordering::Relaxed);
        self.tokens.fetch_add(tokens as u64, Ordering::Relaxed);
    }

    /// The tokens `instances` instances embed per second when busy, all together, as
    /// measured so far; `None` before the first batch.
    pub fn tokens_per_second(&self, instances: usize) -> Option<f64> {
        let busy = self.inference_seconds.sum();
        let tokens = self.tokens.load(Ordering::Relaxed);
        (busy > 0.0 && tokens > 0).then(|| tokens as f64 / busy * instances as f64)
    }

    /// Counts `texts` queued texts dropped because their request went away.
    pub fn dropped(&self, texts: usize) {
        self.dropped_texts
            .fetch_add(texts as u64, Ordering::Relaxed);
    }

    /// Counts `texts` texts answered from the result cache.
    pub fn cache_hits(&self, texts: usize) {
        self.cache_hits.fetch_add(texts as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric, with the queue as `queue` says.
    pub fn render(&self, queue: QueueSize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP nodefusion_serve_requests_total Requests to /v1/embeddings by outcome.\n\
             # TYPE nodefusion_serve_requests_total counter"
        );
        for (outcome, count) in Outcome::ALL.iter().zip(&self.requests) {
            let _ = writeln!(
                out,
                "nodefusion_serve_requests_total{{outcome=\"{}\"}} {}",
                outcome.label(),
                count.load(Ordering::Relaxed)
            );
        }
        let counters = [
            ("texts", "Texts embedded by the encoder.", &self.texts),
            ("tokens", "Tokens embedded by the encoder.", &self.tokens),
            (
                "dropped_texts",
                "Queued texts dropped because their request went away.",
                &self.dropped_texts,
            ),
            (
                "cache_hits",
                "Texts answered from the result cache.",
                &self.cache_hits,
            ),
        ];
        for (name, help, count) in counters {
            let _ = writeln!(
                out,
                "# HELP nodefusion_serve_{name}_total {help}\n\
                 # TYPE nodefusion_serve_{name}_total counter\n\
                 nodefusion_serve_{name}_total {}",
                count.load(Ordering::Relaxed)
            );
        }
        let gauges = [
            (
                "queue_texts",
                "Texts waiting for an encoder instance.",
                queue.texts,
            ),
            (
                "queue_tokens",
                "Tokens waiting for an encoder instance.",
                queue.tokens,
            ),
            (
                "admitted_tokens",
                "Tokens of admitted requests not yet answered.",
                queue.admitted_tokens,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP nodefusion_serve_{name} {help}\n\
                 # TYPE nodefusion_serve_{name} gauge\n\
                 nodefusion_serve_{name} {value}"
            );
        }
        let histograms = [
            ("batch_texts", "Texts per forward pass.", &self.batch_texts),
            (
                "batch_tokens",
                "Tokens per forward pass.",
                &self.batch_tokens,
            ),
            (
                "queue_duration_seconds",
                "From a request's arrival in the queue to its first text taken.",
                &self.queue_seconds,
            ),
            (
                "inference_duration_seconds",
                "One forward pass of an encoder instance.",
                &self.inference_seconds,
            ),
            (
                "request_duration_seconds",
                "A successful request, from its body read to its answer.",
                &self.request_seconds,
            ),
        ];
        for (name, help, histogram) in histograms {
            histogram.render(&format!("nodefusion_serve_{name}"), help, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_cumulatively_with_their_sum() {
        let histogram = Histogram::doubling(1.0, 4.0);
        for value in [0.5, 1.0, 3.0, 100.0] {
            histogram.observe(value);
        }
        let mut out = String::new();
        histogram.render("h", "help", &mut out);
        assert_eq!(
            out,
            "# HELP h help\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 2\n\
             h_bucket{le=\"4\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 104.5\nh_count 4\n"
        );
    }

    #[test]
    fn requests_are_counted_by_outcome() {
        let metrics = Metrics::default();
        metrics.request(Outcome::Overloaded);
        metrics.request(Outcome::Overloaded);
        metrics.request(Outcome::Success);
        let text = metrics.render(QueueSize::default());
        assert!(text.contains("nodefusion_serve_requests_total{outcome=\"overloaded\"} 2\n"));
        assert!(text.contains("nodefusion_serve_requests_total{outcome=\"success\"} 1\n"));
        assert!(text.contains("nodefusion_serve_queue_tokens 0\n"));
    }
}
