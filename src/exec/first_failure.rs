//! [`FirstFailure`]: why the first row a node nulled under `on_error = "null"` failed, kept
//! as a metric so that `EXPLAIN ANALYZE` and the run summary can say it.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::physical_plan::metrics::{
    CustomMetricValue, ExecutionPlanMetricsSet, MetricBuilder, MetricValue,
};

/// The name of the metric.
pub const FIRST_FAILURE: &str = "first_failure";

/// The first failure of a node's run: where and why.
#[derive(Debug, Default)]
pub struct FirstFailure(Mutex<Option<String>>);

impl FirstFailure {
    /// A new, empty metric registered in `metrics`.
    pub fn register(metrics: &ExecutionPlanMetricsSet) -> Arc<FirstFailure> {
        let failure = Arc::new(FirstFailure::default());
        MetricBuilder::new(metrics).build(MetricValue::Custom {
            name: FIRST_FAILURE.into(),
            value: Arc::clone(&failure) as Arc<dyn CustomMetricValue>,
        });
        failure
    }

    /// Keeps `reason` unless a failure is already kept.
    pub fn record(&self, reason: impl FnOnce() -> String) {
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.is_none() {
            *kept = Some(reason());
        }
    }

    /// The failure kept, if any.
    pub fn reason(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl fmt::Display for FirstFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{reason:?}"),
            None => f.write_str("none"),
        }
    }
}

impl CustomMetricValue for FirstFailure {
    fn new_empty(&self) -> Arc<dyn CustomMetricValue> {
        Arc::new(FirstFailure::default())
    }

    fn aggregate(&self, other: Arc<dyn CustomMetricValue>) {
        if let Some(other) = other.as_any().downcast_ref::<FirstFailure>()
            && let Some(reason) = other.reason()
        {
            self.record(|| reason);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_usize(&self) -> usize {
        usize::from(self.reason().is_some())
    }

    fn is_eq(&self, other: &Arc<dyn CustomMetricValue>) -> bool {
        other
            .as_any()
            .downcast_ref::<FirstFailure>()
            .is_some_and(|other| other.reason() == self.reason())
    }
}
