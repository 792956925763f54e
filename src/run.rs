//! Running a compiled pipeline into a Parquet [`Output`]: a fresh instance of the plan per
//! run, the sink writing into the output's staging location, progress while it runs, the
//! commit, and the [`RunSummary`] (rows in and out, wall time, time per node).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::{ConfigNonZeroUsize, TableParquetOptions};
use datafusion::common::runtime::SpawnedTask;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::execution::TaskContext;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan, LogicalPlanBuilder};
use datafusion::parquet::file::properties::WriterPropertiesBuilder;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions, collect,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use serde::{Deserialize, Serialize};

use crate::compile::{CompiledPipeline, NodeOperators, chain_from_leaf};
use crate::error::{Error, Result, ResultsLost};
use crate::exec::{FirstFailure, RechunkExec, TUNED_BATCH_SIZE};
use crate::io::{CopiedColumns, CopyingSink, Location, Output, Staging, is_read_error};
use crate::parts::PartsTarget;
use crate::plan::{columns_to_write, plain_columns};

fn output_rows(plan: &Arc<dyn ExecutionPlan>) -> usize {
    plan.metrics()
        .and_then(|metrics| metrics.output_rows())
        .unwrap_or_default()
}

/// Time and rows of one node in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTiming {
    /// The node's name.
    pub node: String,
    /// Rows it computed.
    pub rows: usize,
    /// Time spent computing, summed over partitions (for async nodes: waiting for calls).
    pub compute: Duration,
    /// Stateful nodes: instances built.
    pub instances_built: usize,
    /// Stateful nodes: time spent building them.
    pub init_time: Duration,
    /// Stateful nodes with `batch_size = "auto"`: the call size chosen (0: none yet).
    pub tuned_batch_size: usize,
    /// Rows the function failed on that got a null (`on_error = "null"`).
    pub failed_rows: usize,
    /// Async nodes: calls tried again.
    pub retries: usize,
    /// Where and why the first row that got a null under `on_error = "null"` failed.
    pub first_failure: Option<String>,
    /// Remote services: what the node's calls used.
    pub usage: ServiceUsage,
}

/// What a node's calls to remote services used (all zero for other nodes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceUsage {
    /// Requests sent, every try counted.
    pub requests: usize,
    /// Input tokens the services reported.
    pub input_tokens: usize,
    /// Output tokens the services reported.
    pub output_tokens: usize,
    /// 429 answers.
    pub rate_limited: usize,
    /// Calls answered from the result cache or by an identical call in flight.
    pub cache_hits: usize,
    /// Time calls waited for budget or a cool-down, summed over calls.
    pub throttled: Duration,
    /// Time calls were in flight, summed over calls.
    pub in_flight: Duration,
    /// Cost from the providers' prices, in nano-dollars.
    pub cost_nanodollars: usize,
}

impl fmt::Display for ServiceUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requests {}, cache hits {}, tokens {} in / {} out, 429s {}, throttled {:.1} s, in flight {:.1} s",
            self.requests,
            self.cache_hits,
            self.input_tokens,
            self.output_tokens,
            self.rate_limited,
            self.throttled.as_secs_f64(),
            self.in_flight.as_secs_f64()
        )?;
        if self.cost_nanodollars > 0 {
            write!(f, ", cost ${:.6}", self.cost_nanodollars as f64 / 1e9)?;
        }
        Ok(())
    }
}

impl std::ops::AddAssign<&ServiceUsage> for ServiceUsage {
    fn add_assign(&mut self, other: &ServiceUsage) {
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.rate_limited += other.rate_limited;
        self.cache_hits += other.cache_hits;
        self.throttled += other.throttled;
        self.in_flight += other.in_flight;
        self.cost_nanodollars += other.cost_nanodollars;
    }
}

impl std::ops::AddAssign<&NodeTiming> for NodeTiming {
    /// Adds the figures of the same node in another run (the first failure kept).
    fn add_assign(&mut self, other: &NodeTiming) {
        self.rows += other.rows;
        self.compute += other.compute;
        self.instances_built += other.instances_built;
        self.init_time += other.init_time;
        self.tuned_batch_size = self.tuned_batch_size.max(other.tuned_batch_size);
        self.failed_rows += other.failed_rows;
        self.retries += other.retries;
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
        self.usage += &other.usage;
    }
}

impl std::ops::AddAssign<RunSummary> for RunSummary {
    /// Adds a run of the same pipeline over more of the input: rows, figures per node,
    /// files and what was cleared; wall times are not added (the caller knows the whole).
    fn add_assign(&mut self, other: RunSummary) {
        self.rows_in += other.rows_in;
        self.rows_out += other.rows_out;
        if self.nodes.is_empty() {
            self.nodes = other.nodes;
        } else {
            for (node, more) in self.nodes.iter_mut().zip(&other.nodes) {
                *node += more;
            }
        }
        self.files.extend(other.files);
        self.cleared.extend(other.cleared);
    }
}

/// The figures of `metrics` of `partition` and of no partition; all when `partition` is
/// `None`.
fn of_partition(metrics: &MetricsSet, partition: Option<usize>) -> MetricsSet {
    let Some(partition) = partition else {
        return metrics.clone();
    };
    let mut kept = MetricsSet::new();
    for metric in metrics.iter() {
        if metric.partition().is_none_or(|found| found == partition) {
            kept.push(Arc::clone(metric));
        }
    }
    kept
}

impl NodeTiming {
    /// The figures of `operators`, the operators computing `node`: their compute time,
    /// instances, failures and retries summed, the rows the last one put out; of the
    /// partition `partition` only, when given (figures of no partition counted too).
    pub(crate) fn of(
        node: &str,
        operators: &[Arc<dyn ExecutionPlan>],
        partition: Option<usize>,
    ) -> Self {
        let figures: Vec<MetricsSet> = operators
            .iter()
            .map(|operator| {
                operator
                    .metrics()
                    .map(|metrics| of_partition(&metrics, partition))
                    .unwrap_or_default()
            })
            .collect();
        Self::of_metrics(node, &figures)
    }

    /// The figures of `node` from the metrics of its operators, in plan order (leaf first).
    pub fn of_metrics(node: &str, operators: &[MetricsSet]) -> Self {
        let operators: Vec<MetricsSet> = operators
            .iter()
            .map(MetricsSet::aggregate_by_name)
            .collect();
        let mut timing = NodeTiming {
            node: node.to_string(),
            rows: operators
                .last()
                .and_then(MetricsSet::output_rows)
                .unwrap_or_default(),
            ..NodeTiming::default()
        };
        for metrics in &operators {
            let value = |name: &str| metrics.sum_by_name(name).map_or(0, |v| v.as_usize());
            let nanos = |name: &str| Duration::from_nanos(value(name) as u64);
            // The node operator's `compute_time` and a projection's `elapsed_compute` (a
            // metric of its own kind that `sum_by_name` does not see).
            timing.compute += nanos("compute_time")
                + Duration::from_nanos(metrics.elapsed_compute().unwrap_or_default() as u64);
            timing.instances_built += value("instances_built");
            timing.init_time += nanos("init_time");
            timing.tuned_batch_size = timing.tuned_batch_size.max(value(TUNED_BATCH_SIZE));
            timing.failed_rows += value("failed_rows");
            timing.retries += value("retries");
            if timing.first_failure.is_none() {
                timing.first_failure = FirstFailure::of(metrics);
            }
            let usage = &mut timing.usage;
            usage.requests += value("requests");
            usage.input_tokens += value("input_tokens");
            usage.output_tokens += value("output_tokens");
            usage.rate_limited += value("rate_limited");
            usage.cache_hits += value("cache_hits");
            usage.throttled += nanos("throttled_time");
            usage.in_flight += nanos("flight_time");
            usage.cost_nanodollars += value("cost_nanodollars");
        }
        timing
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// The pipeline's name.
    pub pipeline: String,
    /// Rows read from the input.
    pub rows_in: usize,
    /// Rows written.
    pub rows_out: usize,
    /// Time from start to commit.
    pub wall_time: Duration,
    /// Per node, in topological order.
    pub nodes: Vec<NodeTiming>,
    /// The files written.
    pub files: Vec<Location>,
    /// What interrupted runs had left beside the output, and what was done with it.
    pub cleared: Vec<String>,
    /// The cluster the run ran on, if not here.
    pub cluster: Option<ClusterRun>,
}

/// How a run ran on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRun {
    /// The cluster, as the user named it.
    pub cluster: String,
    /// Whether its executors wrote the output (else the rows came back to be written
    /// here).
    pub executors_wrote: bool,
}

/// Runs a compiled plan (whose nodes are where the [`NodeOperators`] say) elsewhere, each
/// part of its input written by the executor that runs it as [`PartsTarget`] says; `false`
/// (nothing run) when the plan cannot be cut into parts.
pub type PartsJob = Box<
    dyn Fn(
            Arc<dyn ExecutionPlan>,
            PartsTarget,
            Vec<NodeOperators>,
        ) -> futures::future::BoxFuture<'static, datafusion::common::Result<bool>>
        + Send
        + Sync,
>;

/// Makes the operator that runs a plan elsewhere and streams its rows back.
pub type RemoteJob =
    Box<dyn Fn(Arc<dyn ExecutionPlan>) -> datafusion::common::Result<RowsBack> + Send + Sync>;

/// A plan run elsewhere whose rows come back here: the operator that streams them, and the
/// figures of the pipeline's nodes there, set once the job has succeeded where they could
/// be had.
#[derive(Debug)]
pub struct RowsBack {
    /// The operator streaming the rows.
    pub plan: Arc<dyn ExecutionPlan>,
    /// The nodes' figures, in the pipeline's order.
    pub nodes: Arc<OnceLock<Vec<NodeTiming>>>,
}

/// How many times a run whose rows come back from elsewhere runs its job in all, where
/// the rows of a job that succeeded are lost before they are all here (the executor that
/// held them died).
const JOB_ATTEMPTS: usize = 3;

/// Where a run's plan runs when not in this process: a cluster's name, for the summary,
/// the operator that runs a plan there and streams its rows back, and the job whose
/// executors write the output themselves.
pub struct RemoteRunner {
    /// The cluster, as the user named it.
    pub name: String,
    /// The operator running a plan there.
    pub job: RemoteJob,
    /// Runs a plan there with its output's parts written by the executors.
    pub write_parts: PartsJob,
}

impl fmt::Debug for RemoteRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteRunner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.wall_time.as_secs_f64();
        writeln!(
            f,
            "{}: {} rows in, {} rows out in {:.3} s ({:.0} rows/s)",
            self.pipeline,
            self.rows_in,
            self.rows_out,
            seconds,
            self.rows_in as f64 / seconds.max(1e-9)
        )?;
        let width = self
            .nodes
            .iter()
            .map(|n| n.node.len())
            .max()
            .unwrap_or(4)
            .max(4);
        if !self.nodes.is_empty() {
            writeln!(f, "  {:<width$}  {:>12}  {:>12}", "node", "rows", "compute")?;
        }
        let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
        for node in &self.nodes {
            write!(
                f,
                "  {:<width$}  {:>12}  {:>9.1} ms",
                node.node,
                node.rows,
                ms(node.compute)
            )?;
            if node.instances_built > 0 {
                write!(
                    f,
                    "  instances {} (init {:.1} ms)",
                    node.instances_built,
                    ms(node.init_time)
                )?;
            }
            if node.tuned_batch_size > 0 {
                write!(f, "  batch size {} (auto)", node.tuned_batch_size)?;
            }
            if node.failed_rows > 0 {
                write!(f, "  failed rows {}", node.failed_rows)?;
                if let Some(reason) = &node.first_failure {
                    write!(f, " (first {reason})")?;
                }
            }
            if node.retries > 0 {
                write!(f, "  retries {}", node.retries)?;
            }
            writeln!(f)?;
            if node.usage.requests + node.usage.cache_hits > 0 {
                writeln!(f, "  {:<width$}  {}", "", node.usage)?;
            }
        }
        for file in &self.files {
            writeln!(f, "  wrote {file}")?;
        }
        for line in &self.cleared {
            writeln!(f, "  {line}")?;
        }
        if let Some(run) = &self.cluster {
            let written = match run.executors_wrote {
                true => "its executors wrote the output",
                false => "its rows came back here to be written",
            };
            write!(f, "  ran on the cluster at {}; {written}", run.cluster)?;
            if self.nodes.is_empty() {
                write!(f, " (the nodes' figures stayed on its executors)")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl CompiledPipeline {
    /// Runs the pipeline into `output` and commits it.
    pub async fn write(&self, output: &Output) -> Result<RunSummary> {
        self.write_observed(output, |_| {}).await
    }

    /// Like [`Self::write`], calling `observe(rows written so far)` about ten times a
    /// second while it runs.
    pub async fn write_observed(
        &self,
        output: &Output,
        observe: impl FnMut(usize),
    ) -> Result<RunSummary> {
        self.write_observed_on(output, observe, None).await
    }

    /// Like [`Self::write_observed`], with the plan run by `remote` when given (a
    /// cluster's job): the rows still come back to this process's sink, which writes them
    /// into staging and commits only when the whole job has succeeded.
    ///
    /// Run here over several input files into a directory, the input files run one
    /// after the other and the output of each is kept until all are done (see
    /// [`Self::resume_observed`]).
    pub async fn write_observed_on(
        &self,
        output: &Output,
        observe: impl FnMut(usize),
        remote: Option<&RemoteRunner>,
    ) -> Result<RunSummary> {
        if remote.is_none()
            && let Some(units) = self.units_of(output).await?
        {
            return self.write_units(output, units, false, observe).await;
        }
        self.write_whole(output, observe, remote).await
    }

    /// Runs the pipeline and collects its rows, with the summary of the run (which wrote
    /// no files).
    pub async fn collect_with_summary(&self) -> Result<(Vec<RecordBatch>, RunSummary)> {
        let started = Instant::now();
        let plan = self.instance()?;
        let batches = collect(Arc::clone(&plan), self.task_context()).await?;
        let summary = summarize(
            &self.graph().name,
            self.node_operators(),
            &plan,
            started.elapsed(),
            Vec::new(),
            Vec::new(),
        );
        Ok((batches, summary))
    }

    /// Runs the whole input at once into `output` (see [`Self::write_observed_on`]). Where
    /// the rows come back from `remote` and are lost on the way (the executor holding them
    /// died after the job succeeded), what was written is dropped and the job runs again,
    /// up to [`JOB_ATTEMPTS`] times in all.
    pub(crate) async fn write_whole(
        &self,
        output: &Output,
        mut observe: impl FnMut(usize),
        remote: Option<&RemoteRunner>,
    ) -> Result<RunSummary> {
        if let Some(remote) = remote
            && let Some(summary) = self.write_by_executors(output, remote).await?
        {
            return Ok(summary);
        }
        let started = Instant::now();
        self.check_partition_columns(output)?;
        let mut attempt = 1;
        loop {
            match self
                .write_attempt(output, &mut observe, remote, started)
                .await
            {
                Err(Error::DataFusion(error)) if attempt < JOB_ATTEMPTS => {
                    let Some(lost) = ResultsLost::cause_of(&error) else {
                        return Err(Error::DataFusion(error));
                    };
                    eprintln!(
                        "nodefusion: {lost}; running the job again (attempt {} of {JOB_ATTEMPTS})",
                        attempt + 1
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// One run of the whole input into a new staging location of `output`, committed
    /// when it succeeds (see [`Self::write_whole`]); `started` is when the run began.
    async fn write_attempt(
        &self,
        output: &Output,
        observe: &mut impl FnMut(usize),
        remote: Option<&RemoteRunner>,
        started: Instant,
    ) -> Result<RunSummary> {
        let staging = output.stage(self.session_state().runtime_env()).await?;
        let plan = self.instance()?;
        let (last, remote_nodes) = match remote {
            Some(remote) => {
                let rows_back = (remote.job)(Arc::clone(&plan))?;
                (rows_back.plan, Some(rows_back.nodes))
            }
            None => (Arc::clone(&plan), None),
        };
        let sink = self
            .sink_plan(Arc::clone(&last), output, &staging, remote.is_none())
            .await?;
        let task_ctx = in_order_sink_context(self.session_state())?;
        let run = SpawnedTask::spawn(collect(sink, task_ctx)).join();
        tokio::pin!(run);
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                _ = ticker.tick() => observe(output_rows(&last)),
            }
        };
        let written = result
            .map_err(|error| datafusion::error::DataFusionError::External(Box::new(error)))?;
        if let Err(error) = written {
            if is_read_error(&error) {
                let located = self
                    .input()
                    .locate_read_failure(Some(self.input_schema()), self.session_state())
                    .await;
                if let Some(located) = located {
                    return Err(located);
                }
            }
            return Err(error.into());
        }
        observe(output_rows(&last));
        let cleared = staging.cleared().to_vec();
        let files = staging.commit().await?;
        let mut summary = summarize(
            &self.graph().name,
            self.node_operators(),
            &plan,
            started.elapsed(),
            files,
            cleared,
        );
        if let (Some(remote), Some(nodes)) = (remote, remote_nodes) {
            summary.rows_out = output_rows(&last);
            // A pipeline's nodes add columns, never rows.
            summary.rows_in = summary.rows_out;
            summary.nodes = nodes.get().cloned().unwrap_or_default();
            summary.cluster = Some(ClusterRun {
                cluster: remote.name.clone(),
                executors_wrote: false,
            });
        }
        Ok(summary)
    }

    pub(crate) fn check_partition_columns(&self, output: &Output) -> Result<()> {
        let schema = self.output_schema();
        for column in output.partition_columns() {
            if schema.field_with_name(column).is_err() {
                return Err(Error::Config {
                    origin: "output.partition_by".into(),
                    message: format!("'{column}' is not an output column"),
                });
            }
        }
        Ok(())
    }

    /// A sink for `output` that copies the columns it can from the input file
    /// ([`CopiedColumns`]), writing the schema of `plain` into local `staging` with
    /// `parquet`'s settings; `None` where it copies nothing (then DataFusion's sink writes).
    fn copying_sink(
        &self,
        output: &Output,
        staging: &Staging,
        parquet: &TableParquetOptions,
        plain: &LogicalPlan,
    ) -> Result<Option<CopyingSink>> {
        let Staging::Local(local) = staging else {
            return Ok(None);
        };
        if parquet.crypto.file_encryption.is_some() {
            return Ok(None);
        }
        let schema = Arc::new(plain.schema().as_arrow().clone());
        let mut options = parquet.clone();
        if !options.global.skip_arrow_metadata {
            options.arrow_schema(&schema);
        }
        let properties = WriterPropertiesBuilder::try_from(&options)?.build();
        Ok(
            CopiedColumns::find(self.input(), output, &schema, &properties)
                .map(|copied| CopyingSink::new(schema, local.write_path(), properties, copied)),
        )
    }

    /// The Parquet sink for `output`, writing `plan` into `staging`: a [`CopyingSink`] where
    /// `may_copy` (the rows are this process's own run, in the input's order) and it copies
    /// a column, else DataFusion's.
    async fn sink_plan(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        output: &Output,
        staging: &Staging,
        may_copy: bool,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = self.session_state();
        let mut parquet: TableParquetOptions = state.default_table_options().parquet;
        parquet.global.compression = Some(output.compression_name().to_lowercase());
        parquet.global.max_row_group_size = output.row_group_rows();
        // The sink writes the schema of the plan it is made from: plain types, as the rows
        // given to it are cast to.
        let empty = plain_columns(LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: false,
            schema: Arc::clone(self.logical_plan().schema()),
        }))?;
        if may_copy && let Some(sink) = self.copying_sink(output, staging, &parquet, &empty)? {
            return Ok(Arc::new(DataSinkExec::new(plan, Arc::new(sink), None)));
        }
        let file_type =
            format_as_file_type(Arc::new(ParquetFormatFactory::new_with_options(parquet)));
        let options = HashMap::from([(
            "single_file_output".to_string(),
            output.is_single_file().to_string(),
        )]);
        let copy = LogicalPlanBuilder::copy_to(
            empty,
            staging.write_path(),
            file_type,
            options,
            output.partition_columns().to_vec(),
        )?
        .build()?;
        // DataFusion's own planner: the staging is this run's, not the one a `COPY` gets.
        let sink = DefaultPhysicalPlanner::default()
            .create_physical_plan(&copy, state)
            .await
            .map_err(|error| Error::Config {
                origin: output.path().display().to_string(),
                message: error.strip_backtrace(),
            })?;
        Ok(sink.replace_children(
            vec![columns_to_write(plan, output.partition_columns())?],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?)
    }
}

/// The task context of `state` for a pipeline's sink: one file written at a time, so that
/// a directory output's files, in name order, hold the rows in the pipeline's order
/// (DataFusion's sink deals batches round-robin among `minimum_parallel_output_files`, 4 by
/// default, when it writes a directory). Columns are still encoded in parallel within the
/// file; a new file starts every `soft_max_rows_per_output_file` rows (50 million).
fn in_order_sink_context(state: &SessionState) -> Result<Arc<TaskContext>> {
    let task = TaskContext::from(state);
    let mut config = task.session_config().clone();
    config.options_mut().execution.minimum_parallel_output_files = ConfigNonZeroUsize::try_new(1)?;
    Ok(Arc::new(task.with_session_config(config)))
}

/// The summary of a finished run of `plan`, the plan of the pipeline `pipeline` whose
/// nodes are computed by `operators`; `cleared` says what interrupted runs had left.
fn summarize(
    pipeline: &str,
    operators: &[NodeOperators],
    plan: &Arc<dyn ExecutionPlan>,
    wall_time: Duration,
    files: Vec<Location>,
    cleared: Vec<String>,
) -> RunSummary {
    let chain = chain_from_leaf(plan);
    let nodes = operators
        .iter()
        .map(|node| {
            let operators = chain.get(node.positions.clone()).unwrap_or(&[]);
            NodeTiming::of(&node.node, operators, None)
        })
        .collect();
    let rows_out = output_rows(plan);
    let rows_in = chain
        .iter()
        .find(|operator| operator.is::<RechunkExec>())
        .map_or(rows_out, output_rows);
    RunSummary {
        pipeline: pipeline.to_string(),
        rows_in,
        rows_out,
        wall_time,
        nodes,
        files,
        cleared,
        cluster: None,
    }
}
