//! The server's rate limits: a requests-per-minute and a tokens-per-minute bucket, each
//! holding at most a minute's worth (or `--burst-seconds` of refill) and refilled
//! continuously, as the large providers describe theirs. A request is charged its prompt tokens plus the completion it gets;
//! a refused request costs nothing.

use std::time::{Duration, Instant};

/// One continuously refilled budget.
#[derive(Debug)]
struct Bucket {
    per_minute: f64,
    capacity: f64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    fn new(per_minute: u64, burst_seconds: f64, now: Instant) -> Self {
        let capacity = (per_minute as f64 * burst_seconds / 60.0).max(1.0);
        Self {
            per_minute: per_minute as f64,
            capacity,
            level: capacity,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * self.per_minute / 60.0).min(self.capacity);
        self.updated = now;
    }

    /// How long until `amount` is available (zero when it is).
    fn wait_for(&self, amount: f64) -> Duration {
        let missing = amount - self.level;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing * 60.0 / self.per_minute)
        }
    }

    /// How long until the bucket is full again.
    fn reset(&self) -> Duration {
        self.wait_for(self.capacity)
    }
}

/// What the limits say about one request.
#[derive(Debug)]
pub enum Verdict {
    /// Served; the headers to send.
    Allowed(Vec<(String, String)>),
    /// Refused: which limit (`requests` or `tokens`), how long to wait, the headers.
    Limited(&'static str, Duration, Vec<(String, String)>),
    /// More tokens than a minute's budget: it can never pass.
    TooLarge(u64),
}

/// The server's limits; `None` for a limit it does not enforce.
#[derive(Debug)]
pub struct Limits {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    send_headers: bool,
}

/// A duration as the providers write it in `x-ratelimit-reset-*`: `1.5s`, `120ms`.
fn provider_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{:.3}s", duration.as_secs_f64())
    }
}

impl Limits {
    /// Limits of `rpm` requests and `tpm` tokens a minute, holding `burst_seconds` of refill.
    pub fn new(rpm: Option<u64>, tpm: Option<u64>, burst_seconds: f64, send_headers: bool) -> Self {
        let now = Instant::now();
        Self {
            requests: rpm.map(|limit| Bucket::new(limit, burst_seconds, now)),
            tokens: tpm.map(|limit| Bucket::new(limit, burst_seconds, now)),
            send_headers,
        }
    }

    /// Charges one request of `tokens` tokens, if both budgets allow it.
    pub fn charge(&mut self, tokens: u64) -> Verdict {
        let now = Instant::now();
        for bucket in [&mut self.requests, &mut self.tokens].into_iter().flatten() {
            bucket.refill(now);
        }
        if let Some(bucket) = &self.tokens
            && tokens as f64 > bucket.capacity
        {
            return Verdict::TooLarge(tokens);
        }
        let request_wait = self
            .requests
            .as_ref()
            .map_or(Duration::ZERO, |bucket| bucket.wait_for(1.0));
        let token_wait = self
            .tokens
            .as_ref()
            .map_or(Duration::ZERO, |bucket| bucket.wait_for(tokens as f64));
        if request_wait > Duration::ZERO || token_wait > Duration::ZERO {
            let (kind, wait) = if request_wait >= token_wait {
                ("requests", request_wait)
            } else {
                ("tokens", token_wait)
            };
            return Verdict::Limited(kind, wait, self.headers());
        }
        if let Some(bucket) = &mut self.requests {
            bucket.level -= 1.0;
        }
        if let Some(bucket) = &mut self.tokens {
            bucket.level -= tokens as f64;
        }
        Verdict::Allowed(self.headers())
    }

    /// The `x-ratelimit-*` headers for the budgets as they stand.
    fn headers(&self) -> Vec<(String, String)> {
        if !self.send_headers {
            return Vec::new();
        }
        let mut headers = Vec::new();
        for (name, bucket) in [("requests", &self.requests), ("tokens", &self.tokens)] {
            if let Some(bucket) = bucket {
                headers.push((
                    format!("x-ratelimit-limit-{name}"),
                    format!("{}", bucket.per_minute),
                ));
                headers.push((
                    format!("x-ratelimit-remaining-{name}"),
                    format!("{}", bucket.level.max(0.0).floor()),
                ));
                headers.push((
                    format!("x-ratelimit-reset-{name}"),
                    provider_duration(bucket.reset()),
                ));
            }
        }
        headers
    }
}
