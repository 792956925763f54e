//! Async calls with a timeout, retries with jittered exponential backoff (or the wait the
//! service asked for), a limit on calls in flight shared by all partitions of a node, and,
//! for functions whose service has rate limits, admission by the service's limiter before
//! each try (outside the timeout: waiting for budget is not being slow).

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use datafusion::physical_plan::metrics::Count;
use nodefusion_function::CallError;
use nodefusion_function::calls::{Admission, Permit, UsageMetrics};
use tokio::sync::Semaphore;

use crate::settings::RunSettings;

/// The first wait before a retry; each further retry waits twice as long.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often one call may be refused for rate limits (429) before it fails: such tries
/// wait for the service's cool-down and are not counted against `max_retries`.
pub const MAX_RATE_LIMITED_TRIES: u32 = 100;

/// The wait before retry `attempt` (0 for the first retry): the service's `Retry-After`
/// when it gave one, else `BASE_BACKOFF * 2^attempt` with a random factor in [0.5, 1.5).
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let jitter = 0.5 + (hasher.finish() % 1000) as f64 / 1000.0;
    match retry_after {
        Some(wait) => wait.min(MAX_BACKOFF),
        None => BASE_BACKOFF
            .saturating_mul(1 << attempt.min(16))
            .mul_f64(jitter)
            .min(MAX_BACKOFF),
    }
}

/// Runs `call` until it succeeds, fails for good, or has been retried
/// `settings.max_retries` times (429s aside, see [`MAX_RATE_LIMITED_TRIES`]); each try holds
/// one of `slots`, passes `admission` first when there is one (the wait counted in
/// `usage.throttled_time`, the permit handed to `call`) and is cut off after
/// `settings.timeout_ms`. Every retry is counted in `retries`.
pub async fn with_retries<T, F, Fut>(
    slots: &Semaphore,
    settings: &RunSettings,
    retries: &Count,
    usage: &UsageMetrics,
    admission: Option<&Admission>,
    mut call: F,
) -> Result<T, CallError>
where
    F: FnMut(Option<Permit>) -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let ceiling = settings.max_concurrency.unwrap_or(1);
    let (mut attempt, mut rate_limited) = (0, 0);
    loop {
        let outcome = {
            let _slot = slots
                .acquire()
                .await
                .map_err(|_| CallError::permanent("the node is shutting down"))?;
            let permit = match admission {
                Some(admission) => {
                    let _waiting = usage.throttled_time.timer();
                    Some(admission.limiter.admit(admission.tokens, ceiling).await)
                }
                None => None,
            };
            let _flying = usage.flight_time.timer();
            match tokio::time::timeout(settings.timeout(), call(permit)).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    if let Some(admission) = admission {
                        admission.limiter.timed_out();
                    }
                    Err(CallError::transient(
                        format!("timed out after {} ms", settings.timeout_ms),
                        None,
                    ))
                }
            }
        };
        match outcome {
            Err(error) if error.rate_limited && rate_limited + 1 < MAX_RATE_LIMITED_TRIES => {
                retries.add(1);
                rate_limited += 1;
                tokio::time::sleep(backoff_after_rate_limit(admission, &error)).await;
            }
            Err(error)
                if error.retryable && !error.rate_limited && attempt < settings.max_retries =>
            {
                retries.add(1);
                tokio::time::sleep(backoff(attempt, error.retry_after)).await;
                attempt += 1;
            }
            Err(error) if attempt + rate_limited > 0 => {
                return Err(CallError {
                    message: format!(
                        "{} (after {} tries)",
                        error.message,
                        attempt + rate_limited + 1
                    ),
                    ..error
                });
            }
            outcome => return outcome,
        }
    }
}

/// The wait before trying again after a 429: none when the service's limiter holds the
/// cool-down (the next admission waits for it), else what the service asked for.
fn backoff_after_rate_limit(admission: Option<&Admission>, error: &CallError) -> Duration {
    match admission {
        Some(_) => Duration::ZERO,
        None => backoff(0, error.retry_after.or(Some(Duration::from_secs(1)))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::settings::{NodeSettings, OnError};

    fn settings(max_retries: u32, timeout_ms: u64) -> RunSettings {
        NodeSettings {
            max_retries: Some(max_retries),
            timeout_ms: Some(timeout_ms),
            on_error: Some(OnError::Fail),
            ..NodeSettings::default()
        }
        .with_builtins()
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        for attempt in 0..4 {
            let wait = backoff(attempt, None);
            let base = BASE_BACKOFF * (1 << attempt);
            assert!(
                wait >= base / 2 && wait < base * 3 / 2,
                "{attempt}: {wait:?}"
            );
        }
        assert_eq!(
            backoff(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_counted() {
        let tries = AtomicU32::new(0);
        let retries = Count::new();
        let result = with_retries(
            &Semaphore::new(1),
            &settings(3, 1000),
            &retries,
            &UsageMetrics::default(),
            None,
            |_| {
                let attempt = tries.fetch_add(1, Ordering::Relaxed);
                async move {
                    if attempt < 2 {
                        Err(CallError::transient("busy", None))
                    } else {
                        Ok(attempt)
                    }
                }
            },
        )
        .await;
        assert_eq!(result, Ok(2));
        assert_eq!(retries.value(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_is_not_retried_and_retries_run_out() {
        let retries = Count::new();
        let permanent = with_retries(
            &Semaphore::new(1),
            &settings(3, 1000),
            &retries,
            &UsageMetrics::default(),
            None,
            |_| async { Err::<(), _>(CallError::permanent("bad request")) },
        )
        .await;
        assert_eq!(permanent.unwrap_err().message, "bad request");
        let exhausted = with_retries(
            &Semaphore::new(1),
            &settings(2, 1000),
            &retries,
            &UsageMetrics::default(),
            None,
            |_| async { Err::<(), _>(CallError::transient("HTTP 503", None)) },
        )
        .await;
        assert_eq!(exhausted.unwrap_err().message, "HTTP 503 (after 3 tries)");
        assert_eq!(retries.value(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_times_out() {
        let retries = Count::new();
        let result = with_retries(
            &Semaphore::new(1),
            &settings(0, 50),
            &retries,
            &UsageMetrics::default(),
            None,
            |_| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            },
        )
        .await;
        assert_eq!(result.unwrap_err().message, "timed out after 50 ms");
    }
}
