//! [`FirstFailure`]: why the first row a node nulled under `on_error = "null"` failed, kept
//! as a metric so that `EXPLAIN ANALYZE` and the run summary can say it. The reason is the
//! name of a count (`first_failure: REASON`, of 1), registered when the failure happens: a
//! plain count crosses a cluster's task reports to its scheduler (Ballista drops every
//! metric of a task that has a custom one).

use std::sync::{Arc, Mutex};

use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};

/// What the name of the metric starts with, before `: REASON`.
const FIRST_FAILURE: &str = "first_failure";

/// The first failure of a node's run, registered in the node operator's metrics.
#[derive(Debug)]
pub struct FirstFailure {
    metrics: ExecutionPlanMetricsSet,
    kept: Mutex<bool>,
}

impl FirstFailure {
    /// Keeps failures in `metrics`; none is kept yet.
    pub fn register(metrics: &ExecutionPlanMetricsSet) -> Arc<FirstFailure> {
        Arc::new(FirstFailure {
            metrics: metrics.clone(),
            kept: Mutex::new(false),
        })
    }

    /// Keeps `reason` unless a failure is already kept.
    pub fn record(&self, reason: impl FnOnce() -> String) {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !*kept {
            *kept = true;
            MetricBuilder::new(&self.metrics)
                .global_counter(format!("{FIRST_FAILURE}: {}", reason()))
                .add(1);
        }
    }

    /// The failure kept in `metrics` (an operator's, or several aggregated), if any.
    pub fn of(metrics: &MetricsSet) -> Option<String> {
        let prefix = format!("{FIRST_FAILURE}: ");
        metrics.iter().find_map(|metric| {
            metric
                .value()
                .name()
                .strip_prefix(&prefix)
                .map(str::to_string)
        })
    }
}
