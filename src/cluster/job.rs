//! [`ClusterJobExec`]: a physical plan run as one job on a cluster. Executed, it submits
//! the plan to the scheduler (nodefusion's physical codec carries our operators, [`run_job`]
//! cancels the job if this stream is dropped before the job ends) and streams back the
//! rows of the job's output partitions from the executors that hold them, so that the
//! client's own Parquet sink writes them (into staging, committed only when the job has
//! succeeded). Rows that cannot be fetched are a [`ResultsLost`] error (the run may run
//! the job again); the figures of the pipeline's nodes are asked of the scheduler once the
//! job has succeeded.

use std::fmt;
use std::sync::{Arc, OnceLock};

use ballista::prelude::SessionConfigExt;
use ballista_core::client::BallistaClient;
use ballista_core::serde::protobuf::PartitionLocation;
use ballista_core::utils::GrpcClientConfig;
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
use futures::{StreamExt, TryStreamExt};

use super::node_figures::node_figures;
use super::session::with_cluster_codecs;
use super::spread::NodeOperatorsSent;
use super::submit::run_job;
use crate::error::ResultsLost;
use crate::run::NodeTiming;

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
    /// The pipeline's nodes, with their operators in `plan`.
    nodes: Vec<NodeOperatorsSent>,
    /// The nodes' figures, once the job has succeeded.
    figures: Arc<OnceLock<Vec<NodeTiming>>>,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
}

impl ClusterJobExec {
    /// `plan` run on the cluster `name` whose scheduler is at `scheduler`
    /// (`http://HOST:PORT`), with the options of `config`; the figures of `nodes` (a
    /// pipeline's, with their operators in `plan`) are kept in `figures`.
    pub fn new(
        plan: Arc<dyn ExecutionPlan>,
        scheduler: String,
        name: String,
        config: &SessionConfig,
        nodes: Vec<NodeOperatorsSent>,
        figures: Arc<OnceLock<Vec<NodeTiming>>>,
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
            nodes,
            figures,
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
        let (plan, scheduler, name, config, nodes, figures) = (
            Arc::clone(&self.plan),
            self.scheduler.clone(),
            self.name.clone(),
            self.config.clone(),
            self.nodes.clone(),
            Arc::clone(&self.figures),
        );
        let job = futures::stream::once(async move {
            let job = run_job(&scheduler, &name, plan, &config).await?;
            let grpc = GrpcClientConfig::from(&config.ballista_config());
            if !nodes.is_empty()
                && let Some(found) = node_figures(&scheduler, &grpc, &job.id, &nodes).await
            {
                let _ = figures.set(found);
            }
            let fetches = job.locations.into_iter().map(move |location| {
                let (grpc, name) = (grpc.clone(), name.clone());
                futures::stream::once(fetch(location, grpc, name)).try_flatten()
            });
            Ok::<_, DataFusionError>(futures::stream::iter(fetches).flatten())
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

/// The rows of the job's output partition at `location`, from the executor that holds it
/// (the cluster is `name` in errors); a [`ResultsLost`] error where that executor cannot
/// give them, when asked or while they stream.
async fn fetch(
    location: PartitionLocation,
    grpc: GrpcClientConfig,
    name: String,
) -> Result<SendableRecordBatchStream> {
    let failed =
        |message: String| DataFusionError::Execution(format!("cluster at {name}: {message}"));
    let layout = location.layout();
    let executor = location
        .executor_meta
        .ok_or_else(|| failed("a result partition without its executor".into()))?;
    let partition = location
        .partition_id
        .ok_or_else(|| failed("a result partition without its id".into()))?;
    let port = u16::try_from(executor.port).unwrap_or_default();
    let host = format!("{}:{port}", executor.host);
    let mut client = BallistaClient::try_new(
        &executor.host,
        port,
        usize::MAX,
        false,
        None,
        grpc.io_retries_times,
        grpc.io_retry_wait_time_ms,
        0,
        0,
    )
    .await
    .map_err(|error| results_lost(&name, &host, error))?;
    let rows = client
        .fetch_partition(
            &executor.id,
            &partition.into(),
            location.file_id,
            layout,
            true,
        )
        .await
        .map_err(|error| results_lost(&name, &host, error))?;
    let schema = rows.schema();
    let streamed = rows.map_err(move |error| results_lost(&name, &host, error));
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, streamed)))
}

/// The rows of a job on the cluster `name` that executor `host` (`HOST:PORT`) cannot give.
fn results_lost(name: &str, host: &str, error: impl fmt::Display) -> DataFusionError {
    DataFusionError::External(Box::new(ResultsLost {
        message: format!("cluster at {name}: the job's results are lost: executor {host}: {error}"),
    }))
}
