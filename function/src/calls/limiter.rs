//! [`Limiter`]: the rate limits of one remote service (endpoint, model and API key), shared
//! by every node and partition of the process that calls it.
//!
//! - **Budgets**: a requests-per-minute and a tokens-per-minute bucket, refilled
//!   continuously, each holding a second's worth (or the provider's `burst_seconds`). A call reserves one request and its
//!   estimated tokens before it is sent ([`Limiter::admit`]); when the answer says what it
//!   used, the difference is refunded or charged ([`Permit::settle`]).
//! - **The server's word**: `x-ratelimit-remaining-*` lowers the local budgets to what the
//!   server has left less what the other calls in flight reserved, and limits the server
//!   announces are adopted when none were configured ([`Permit::observe`]).
//! - **A shared cool-down**: a 429 pauses every call to the service until the time the
//!   server asked for, plus jitter ([`Limiter::rate_limited`]); queued calls wait together.
//! - **Adaptive concurrency** (AIMD): the calls in flight may grow by one per window of
//!   successes and halve on a 429 or a timeout, between 1 and the caller's ceiling.
//! - **A learned pace**: the first 429 sets a pace of requests per minute at 70 % of the
//!   rate that succeeded over the last ten seconds (or since the first success, if later); each further cool-down cuts it to 70 %,
//!   each success raises it by 0.3 %. Concurrency alone cannot find a rate limit (one call
//!   in flight at a time can still outrun it), so with no limits known, and none in the
//!   server's headers, the pace is what settles a job at the service's rate with few 429s.
//!
//! `governor` (GCRA) was the candidate crate: it cannot refund a reservation or be set to
//! the server's count, which reconciling needs, so the buckets are these few lines.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The limits of a service, per minute; `None` where no limit is known.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute (prompt and completion).
    pub tpm: Option<u64>,
    /// How many seconds of refill the budgets hold; `None`: [`DEFAULT_BURST_SECONDS`].
    pub burst_seconds: Option<f64>,
}

/// The refill budgets hold by default: one second's. Providers say they may enforce a
/// minute's limit over shorter periods (60,000 a minute as 1,000 a second), so a budget
/// holding a whole minute would send a burst the service refuses.
pub const DEFAULT_BURST_SECONDS: f64 = 1.0;

impl RateLimits {
    fn burst(&self) -> f64 {
        self.burst_seconds.unwrap_or(DEFAULT_BURST_SECONDS)
    }
}

/// What a server said about its budgets in one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerBudgets {
    /// `x-ratelimit-limit-requests`.
    pub limit_requests: Option<u64>,
    /// `x-ratelimit-limit-tokens`.
    pub limit_tokens: Option<u64>,
    /// `x-ratelimit-remaining-requests`.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-remaining-tokens`.
    pub remaining_tokens: Option<u64>,
}

/// One continuously refilled budget.
#[derive(Debug)]
struct Bucket {
    per_minute: f64,
    /// The most it holds: `burst_seconds` of refill for a service's limits, a second's for
    /// a pace.
    capacity: f64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    /// A full budget of `per_minute` a minute, holding `burst_seconds` of refill (one unit
    /// at least).
    fn new(per_minute: u64, burst_seconds: f64, now: Instant) -> Self {
        let capacity = (per_minute as f64 * burst_seconds / 60.0).max(1.0);
        Self {
            per_minute: per_minute as f64,
            capacity,
            level: capacity,
            updated: now,
        }
    }

    /// A pace of `per_minute` requests a minute, holding a second's worth, starting empty.
    fn pace(per_minute: f64, now: Instant) -> Self {
        let per_minute = per_minute.max(1.0);
        Self {
            per_minute,
            capacity: (per_minute / 60.0).max(1.0),
            level: 0.0,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * self.per_minute / 60.0).min(self.capacity);
        self.updated = now;
    }

    /// Sets the rate of a budget holding `burst_seconds` of refill.
    fn set_per_minute(&mut self, per_minute: f64, burst_seconds: f64) {
        self.per_minute = per_minute;
        self.capacity = (per_minute * burst_seconds / 60.0).max(1.0);
    }

    /// How long until `amount` is there; zero when it is.
    fn wait_for(&self, amount: f64) -> Duration {
        let missing = amount.min(self.capacity) - self.level;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing * 60.0 / self.per_minute)
        }
    }
}

#[derive(Debug)]
struct State {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    /// The pace learned from 429s, in requests.
    pace: Option<Bucket>,
    /// When the calls of the last [`RATE_WINDOW`] succeeded.
    successes: VecDeque<Instant>,
    paused_until: Option<Instant>,
    in_flight: usize,
    /// The tokens the calls in flight reserved.
    reserved: f64,
    /// The adaptive limit on calls in flight (fractional: past slow start it grows by
    /// 1/window a success, one a window).
    window: f64,
    /// Until the first 429 or timeout, the window grows by one a success (doubling a
    /// round trip), as TCP's slow start does.
    slow_start: bool,
}

/// The shared limits of one service. See the module documentation.
impl State {
    fn shrink(&mut self) {
        self.window = (self.window / 2.0).max(1.0);
        self.slow_start = false;
    }

    /// After a 429: the pace drops to 70 % of itself, or of the rate that succeeded lately.
    fn slow_down(&mut self, now: Instant) {
        let per_minute = match &self.pace {
            Some(pace) => pace.per_minute,
            None => {
                let successes = self.recent_successes(now) as f64;
                // Over the time the successes span (a job younger than the window has
                // not had all of it), a tenth of a second at least.
                let span = self
                    .successes
                    .front()
                    .map_or(RATE_WINDOW, |oldest| now.duration_since(*oldest))
                    .max(Duration::from_millis(100));
                successes * 60.0 / span.as_secs_f64()
            }
        };
        self.pace = Some(Bucket::pace(per_minute * PACE_CUT, now));
    }

    fn recent_successes(&mut self, now: Instant) -> usize {
        while self
            .successes
            .front()
            .is_some_and(|when| now.duration_since(*when) > RATE_WINDOW)
        {
            self.successes.pop_front();
        }
        self.successes.len()
    }

    fn succeeded(&mut self, now: Instant, ceiling: f64) {
        self.successes.push_back(now);
        self.recent_successes(now);
        if let Some(pace) = &mut self.pace {
            pace.refill(now);
            pace.per_minute *= PACE_GROWTH;
            pace.capacity = (pace.per_minute / 60.0).max(1.0);
        }
        self.grow(ceiling);
    }

    fn grow(&mut self, ceiling: f64) {
        let step = if self.slow_start {
            1.0
        } else {
            1.0 / self.window.max(1.0)
        };
        self.window = (self.window + step).min(ceiling);
    }
}

#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    changed: Notify,
}

/// The window a limiter starts with: a few calls, growing with successes.
const INITIAL_WINDOW: f64 = 4.0;
/// How far back the rate of successes is measured.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// What a 429 leaves of the pace.
const PACE_CUT: f64 = 0.7;
/// What a success adds to the pace.
const PACE_GROWTH: f64 = 1.003;
/// The longest a limiter waits before looking at its budgets again.
const LONGEST_NAP: Duration = Duration::from_millis(250);

/// A random factor in [1, 1.1): spreads the end of a cool-down.
fn jitter() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    1.0 + (hasher.finish() % 1000) as f64 / 10_000.0
}

impl Limiter {
    /// A limiter with `limits`.
    pub fn new(limits: RateLimits) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                requests: limits
                    .rpm
                    .map(|limit| Bucket::new(limit, limits.burst(), now)),
                tokens: limits
                    .tpm
                    .map(|limit| Bucket::new(limit, limits.burst(), now)),
                pace: None,
                successes: VecDeque::new(),
                paused_until: None,
                in_flight: 0,
                reserved: 0.0,
                window: INITIAL_WINDOW,
                slow_start: true,
            }),
            changed: Notify::new(),
        }
    }

    /// The limiter the process keeps for the service `key` (endpoint, model and a
    /// fingerprint of the key); made with `limits` on first use. Configured limits given
    /// later replace those it had.
    pub fn shared(key: &str, limits: RateLimits) -> Arc<Limiter> {
        static LIMITERS: OnceLock<Mutex<HashMap<String, Arc<Limiter>>>> = OnceLock::new();
        let mut limiters = LIMITERS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let limiter = limiters
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Limiter::new(limits)));
        limiter.configure(limits);
        Arc::clone(limiter)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the limits that were configured (those not given stay as they are).
    fn configure(&self, limits: RateLimits) {
        let now = Instant::now();
        let mut guard = self.lock();
        let state = &mut *guard;
        for (limit, bucket) in [
            (limits.rpm, &mut state.requests),
            (limits.tpm, &mut state.tokens),
        ] {
            match (limit, bucket.as_mut()) {
                (Some(limit), Some(bucket)) => bucket.set_per_minute(limit as f64, limits.burst()),
                (Some(limit), None) => *bucket = Some(Bucket::new(limit, limits.burst(), now)),
                (None, _) => {}
            }
        }
    }

    /// Waits until a call reserving `tokens` may be sent (no cool-down, fewer than the
    /// adaptive window and `ceiling` in flight, both budgets covering it), then reserves.
    pub async fn admit(self: &Arc<Self>, tokens: u64, ceiling: usize) -> Permit {
        loop {
            let notified = self.changed.notified();
            let wait = {
                let now = Instant::now();
                let mut guard = self.lock();
                let state = &mut *guard;
                for bucket in [&mut state.requests, &mut state.tokens, &mut state.pace]
                    .into_iter()
                    .flatten()
                {
                    bucket.refill(now);
                }
                let window = state.window.min(ceiling.max(1) as f64).max(1.0);
                let paused = state.paused_until.filter(|until| *until > now);
                if let Some(until) = paused {
                    Some(until - now)
                } else if state.in_flight as f64 >= window.floor() {
                    None
                } else {
                    let request_wait = [&state.requests, &state.pace]
                        .into_iter()
                        .flatten()
                        .map(|bucket| bucket.wait_for(1.0))
                        .max()
                        .unwrap_or(Duration::ZERO);
                    let token_wait = state
                        .tokens
                        .as_ref()
                        .map_or(Duration::ZERO, |bucket| bucket.wait_for(tokens as f64));
                    let wait = request_wait.max(token_wait);
                    if wait.is_zero() {
                        for bucket in [&mut state.requests, &mut state.pace].into_iter().flatten() {
                            bucket.level -= 1.0;
                        }
                        if let Some(bucket) = &mut state.tokens {
                            bucket.level -= tokens as f64;
                        }
                        state.in_flight += 1;
                        state.reserved += tokens as f64;
                        return Permit {
                            limiter: Arc::clone(self),
                            reserved: tokens,
                            ceiling: ceiling.max(1) as f64,
                            counted_by_server: false,
                        };
                    }
                    Some(wait)
                }
            };
            let nap = wait.map_or(LONGEST_NAP, |wait| wait.min(LONGEST_NAP));
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// After a 429: every call to the service waits `wait` (with jitter), and the window
    /// halves (once per cool-down, however many calls hit the wall together).
    pub fn rate_limited(&self, wait: Duration) {
        let now = Instant::now();
        let until = now + wait.mul_f64(jitter());
        let mut state = self.lock();
        let already_paused = state.paused_until.is_some_and(|paused| paused > now);
        if !already_paused {
            state.shrink();
            state.slow_down(now);
        }
        state.paused_until = Some(state.paused_until.map_or(until, |paused| paused.max(until)));
    }

    /// After a timeout: the window halves.
    pub fn timed_out(&self) {
        self.lock().shrink();
    }

    /// The adaptive window now (for tests and reports).
    pub fn window(&self) -> f64 {
        self.lock().window
    }
}

/// A call admitted by a [`Limiter`]: one slot in flight and its reserved tokens. Dropped
/// unsettled (a failure, a timeout), the reservation stays spent.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
    reserved: u64,
    ceiling: f64,
    /// The server's remaining budget, which counts this call, replaced the local one: the
    /// call's use is in it, so settling refunds nothing.
    counted_by_server: bool,
}

impl Permit {
    /// Corrects the budgets with what the server said in this call's answer: limits it
    /// announces are adopted where none were configured; its remaining counts, less what
    /// the other calls in flight reserved, replace the local ones when lower.
    pub fn observe(&mut self, server: &ServerBudgets) {
        let now = Instant::now();
        let mut guard = self.limiter.lock();
        let state = &mut *guard;
        let others_requests = state.in_flight.saturating_sub(1) as f64;
        let others_tokens = (state.reserved - self.reserved as f64).max(0.0);
        let pairs = [
            (
                server.limit_requests,
                server.remaining_requests,
                others_requests,
                &mut state.requests,
            ),
            (
                server.limit_tokens,
                server.remaining_tokens,
                others_tokens,
                &mut state.tokens,
            ),
        ];
        for (limit, remaining, others, bucket) in pairs {
            let Some(remaining) = remaining else { continue };
            let server_level = remaining as f64 - others;
            match bucket {
                None => {
                    if let Some(limit) = limit.filter(|limit| *limit > 0) {
                        let mut adopted = Bucket::new(limit, DEFAULT_BURST_SECONDS, now);
                        adopted.level = server_level.min(adopted.capacity);
                        *bucket = Some(adopted);
                        self.counted_by_server = true;
                    }
                }
                Some(bucket) => {
                    bucket.refill(now);
                    if server_level < bucket.level {
                        bucket.level = server_level;
                        self.counted_by_server = true;
                    }
                }
            }
        }
    }

    /// The call succeeded using `tokens`: the difference to the reservation is refunded
    /// (or charged) unless the server's count already holds it, and the window grows.
    pub fn settle(self, tokens: u64) {
        let now = Instant::now();
        let mut state = self.limiter.lock();
        if let Some(bucket) = &mut state.tokens
            && !self.counted_by_server
        {
            bucket.refill(now);
            bucket.level =
                (bucket.level + self.reserved as f64 - tokens as f64).min(bucket.capacity);
        }
        state.succeeded(now, self.ceiling);
    }

    /// The limiter this permit came from.
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.in_flight -= 1;
        state.reserved -= self.reserved as f64;
        drop(state);
        self.limiter.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rpm: Option<u64>, tpm: Option<u64>) -> Arc<Limiter> {
        Arc::new(Limiter::new(RateLimits {
            rpm,
            tpm,
            burst_seconds: Some(60.0),
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn by_default_a_second_of_requests_passes_at_once_then_they_are_paced() {
        let limiter = Arc::new(Limiter::new(RateLimits {
            rpm: Some(600),
            ..RateLimits::default()
        }));
        let start = Instant::now();
        for _ in 0..10 {
            limiter.admit(1, 100).await.settle(1);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..10 {
            limiter.admit(1, 100).await.settle(1);
        }
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(999) && waited < Duration::from_millis(1100),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_minute_of_requests_passes_at_once_and_the_next_waits_for_the_refill() {
        let limiter = limiter(Some(60), None);
        let start = Instant::now();
        for _ in 0..60 {
            limiter.admit(1, 100).await.settle(1);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.admit(1, 100).await.settle(1);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(999) && waited < Duration::from_millis(1300),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn settling_refunds_what_the_estimate_overshot() {
        let limiter = limiter(None, Some(1000));
        let start = Instant::now();
        let permit = limiter.admit(900, 10).await;
        permit.settle(100);
        // 900 reserved, 100 used: 900 are left, so 800 more pass at once.
        limiter.admit(800, 10).await.settle(800);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // An unsettled permit keeps its reservation: 100 left, 600 wait for 500 (30 s).
        drop(limiter.admit(100, 10).await);
        limiter.admit(500, 10).await.settle(500);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(29) && waited <= Duration::from_secs(31),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_every_call_halves_the_window_and_sets_a_pace() {
        let limiter = limiter(None, None);
        for _ in 0..8 {
            limiter.admit(1, 64).await.settle(1);
        }
        let grown = limiter.window();
        assert_eq!(grown, INITIAL_WINDOW + 8.0, "slow start adds one a success");
        let start = Instant::now();
        limiter.rate_limited(Duration::from_secs(2));
        limiter.rate_limited(Duration::from_secs(2));
        assert_eq!(limiter.window(), grown / 2.0, "halved once per cool-down");
        limiter.admit(1, 64).await.settle(1);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_millis(2300),
            "{waited:?}"
        );
        // The pace: 70 % of 8 successes in 100 ms at least, 56 a second, holding a
        // second's worth: 113 calls take one more second (growth aside).
        let before = Instant::now();
        for _ in 0..112 {
            limiter.admit(1, 64).await.settle(1);
        }
        let spent = before.elapsed();
        assert!(
            spent >= Duration::from_millis(700) && spent < Duration::from_millis(1050),
            "{spent:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_in_flight_stay_below_the_window_and_the_ceiling() {
        let limiter = limiter(None, None);
        let held: Vec<Permit> =
            futures::future::join_all((0..3).map(|_| limiter.admit(1, 3))).await;
        let blocked = tokio::time::timeout(Duration::from_secs(1), limiter.admit(1, 3)).await;
        assert!(
            blocked.is_err(),
            "a fourth call waits while three (the ceiling) fly"
        );
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), limiter.admit(1, 3))
            .await
            .expect("a slot is free again");
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_budgets_lower_the_local_ones_and_teach_unknown_limits() {
        let limiter = limiter(Some(600), None);
        let mut permit = limiter.admit(0, 10).await;
        permit.observe(&ServerBudgets {
            remaining_requests: Some(0),
            limit_tokens: Some(6000),
            remaining_tokens: Some(3000),
            ..ServerBudgets::default()
        });
        drop(permit);
        let start = Instant::now();
        // No request left: one comes back after 100 ms; 3000 tokens are there.
        limiter.admit(3000, 10).await.settle(3000);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(99) && waited < Duration::from_millis(400),
            "{waited:?}"
        );
        // The adopted token limit: 3000 more need another ~30 s.
        limiter.admit(3000, 10).await.settle(3000);
        assert!(
            start.elapsed() >= Duration::from_secs(29),
            "{:?}",
            start.elapsed()
        );
    }
}
