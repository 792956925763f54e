//! [`ClusterJobExec`]: a physical plan run as one job on a cluster. Executed, it submits
//! the plan to the scheduler (nodefusion's physical codec carries our operators) and
//! streams back the rows of the job's single output partition, so that the client's own
//! Parquet sink writes them (into staging, committed only when the job has succeeded).

use std::fmt;
use std::sync::Arc;

use ballista::prelude::SessionConfigExt;
use ballista_core::execution_plans::execute_physical_plan;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::{StreamExt, TryStreamExt};

use super::NodefusionPhysicalCodec;
use super::session::with_cluster_codecs;

/// `plan` (one output partition) as a job of a cluster.
#[derive(Debug)]
pub struct ClusterJobExec {
    plan: Arc<dyn ExecutionPlan>,
    /// The scheduler as a gRPC URL (`http://HOST:PORT`).
    scheduler: String,
    /// The cluster as the user named it, for errors.
    name: String,
    /// The session's configuration, whose key/values travel with the job.
    config: SessionConfig,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
}

impl ClusterJobExec {
    /// `plan` run on the cluster `name` whose scheduler is at `scheduler`
    /// (`http://HOST:PORT`), with the options of `config`.
    pub fn new(
        plan: Arc<dyn ExecutionPlan>,
        scheduler: String,
        name: String,
        config: &SessionConfig,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(plan.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            plan,
            scheduler,
            name,
            config: with_cluster_codecs(config.clone().upgrade_for_ballista()),
            metrics: ExecutionPlanMetricsSet::new(),
            properties,
        }
    }
}

impl DisplayAs for ClusterJobExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ClusterJobExec: scheduler={}", self.scheduler)
    }
}

impl ExecutionPlan for ClusterJobExec {
    fn name(&self) -> &str {
        "ClusterJobExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None: the plan runs elsewhere, so nothing may rewrite it here.
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return internal_err!("ClusterJobExec has no children");
        }
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("ClusterJobExec has one partition, asked for {partition}");
        }
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let (plan, scheduler, name, config) = (
            Arc::clone(&self.plan),
            self.scheduler.clone(),
            self.name.clone(),
            self.config.clone(),
        );
        let job = futures::stream::once(async move {
            let session_id = uuid_like_session_id();
            execute_physical_plan::<PhysicalPlanNode>(
                scheduler,
                &config.ballista_config(),
                plan,
                &NodefusionPhysicalCodec::default(),
                session_id,
                config,
            )
            .await
            .map_err(|error| cluster_failure(&name, error))
        })
        .try_flatten()
        .map(move |batch| {
            let batch = batch?;
            baseline.record_output(batch.num_rows());
            Ok(batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), job)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// A session id of the job's own.
fn uuid_like_session_id() -> String {
    format!(
        "nodefusion-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos())
    )
}

/// `error` of the job on the cluster `name`, saying where.
fn cluster_failure(name: &str, error: DataFusionError) -> DataFusionError {
    DataFusionError::Execution(format!("cluster at {name}: {}", error.strip_backtrace()))
}
