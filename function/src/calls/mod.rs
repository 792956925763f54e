//! What an async call gets beside its arguments ([`CallContext`]): the session's
//! [`Providers`], the node's [`UsageMetrics`] to account requests, tokens and cost in, and,
//! for a function that asked for one ([`Admission`]), the [`Permit`] its service's
//! [`Limiter`] gave the call before it was sent.

mod limiter;
mod providers;

use std::sync::Arc;

use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricValue, Time,
};

pub use limiter::{Limiter, Permit, RateLimits, ServerBudgets};
pub use providers::{OPENAI_BASE_URL, PROVIDER_KEYS, Provider, Providers};

/// What a call must pass before it is sent: the limiter of its service and the tokens it
/// reserves there (its estimate; settled with what the service reports).
#[derive(Debug, Clone)]
pub struct Admission {
    /// The service's limiter.
    pub limiter: Arc<Limiter>,
    /// The tokens the call reserves.
    pub tokens: u64,
}

/// A node's usage of remote services, shared by its partitions, shown by `EXPLAIN
/// ANALYZE` and the run summary.
#[derive(Debug, Clone, Default)]
pub struct UsageMetrics {
    /// Requests sent (each try counts).
    pub requests: Count,
    /// Input (prompt) tokens the service reported.
    pub input_tokens: Count,
    /// Output (completion) tokens the service reported.
    pub output_tokens: Count,
    /// 429 answers.
    pub rate_limited: Count,
    /// Calls answered from the result cache or by an identical call in flight.
    pub cache_hits: Count,
    /// Cost from the provider's prices, in nano-dollars.
    pub cost_nanodollars: Count,
    /// Time calls waited for their service's budget or cool-down.
    pub throttled_time: Time,
    /// Time calls were in flight.
    pub flight_time: Time,
}

impl UsageMetrics {
    /// The node's metrics in `metrics`, one set for all its partitions (a budget is the
    /// node's).
    pub fn new(metrics: &ExecutionPlanMetricsSet) -> Self {
        let count = |name: &'static str| MetricBuilder::new(metrics).global_counter(name);
        let time = |name: &'static str| {
            let time = Time::new();
            MetricBuilder::new(metrics).build(MetricValue::Time {
                name: name.into(),
                time: time.clone(),
            });
            time
        };
        Self {
            requests: count("requests"),
            input_tokens: count("input_tokens"),
            output_tokens: count("output_tokens"),
            rate_limited: count("rate_limited"),
            cache_hits: count("cache_hits"),
            cost_nanodollars: count("cost_nanodollars"),
            throttled_time: time("throttled_time"),
            flight_time: time("flight_time"),
        }
    }
}

/// What one try of an async call gets beside its arguments.
#[derive(Debug)]
pub struct CallContext<'a> {
    /// The session's providers.
    pub providers: &'a Providers,
    /// The node's usage, to count requests, tokens and cost in.
    pub usage: &'a UsageMetrics,
    /// The admission the try passed, when the function asked for one.
    pub permit: Option<Permit>,
}
