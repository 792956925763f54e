//! [`NodeExec`]: the operator of stateful and async nodes. It appends the node's output
//! column to every batch of its input, per partition:
//!
//! - the input is re-cut so the function sees exactly `batch_size` rows (the last batch of
//!   a partition may be shorter), and each batch comes out in the order it went in;
//! - **stateful**: one instance per partition, built lazily on the partition's first batch,
//!   at most `max_concurrency` alive across partitions ([`InstancePool`]);
//! - **isolated** (Python): the same, each instance computing on a thread or in a process
//!   of its own, awaited; a function whose calls overlap inside one instance (async
//!   Python) gets one instance for the node, `max_concurrency` being its calls in flight;
//! - **async**: up to `max_concurrency` calls (rows or batches) in flight across the node,
//!   each with a timeout and retries ([`with_retries`]), output order kept;
//! - a failing row fails the run (naming node, function and row) or, with `on_error =
//!   null`, gets a null and is counted;
//! - a call whose function asks for admission waits for its service's limiter first
//!   (rate limits, see `nodefusion_function::calls`); a fatal failure (a rejected API key)
//!   fails the run whatever `on_error` says;
//! - on a cluster's executor, the tasks of a job running the node at once share its
//!   instances and its limit (`max_concurrency` holds per executor), and instances outlive
//!   their task ([`super::executor_sharing`]);
//! - metrics: `instances_built`, `init_time`, `batches`, `rows`, `compute_time`,
//!   `failed_rows`, `retries`, and the usage of remote services (`requests`, tokens,
//!   `rate_limited`, `throttled_time`, `flight_time`, cost), shown by `EXPLAIN ANALYZE` and
//!   the run summary.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::array::{Array, ArrayRef, new_empty_array, new_null_array};
use datafusion::arrow::compute::{concat, take};
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue, internal_datafusion_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, Gauge, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions,
};
use futures::StreamExt;
use nodefusion_function::calls::{Admission, CallContext, Permit, Providers, UsageMetrics};
use nodefusion_function::{
    AsyncRowFunction, CallError, Computed, InitOptions, IsolationOptions, OperatorFunction,
    skips_row,
};
use tokio::sync::Semaphore;

use super::batch_tuner::BatchTuner;
use super::cache::{CacheKey, ResultCache};
use super::calls::with_retries;
use super::executor_sharing::executor_sharing;
use super::first_failure::FirstFailure;
use super::instances::{Instance, InstancePool, InstanceSource};
use super::rechunk_stream;
use crate::error::{FailedRow, NodeError};
use crate::settings::{BatchSize, Isolation, OnError, Precision, RunSettings, SessionOptions};

/// An error's own message, without DataFusion's prefix for its kind.
fn message(error: &DataFusionError) -> String {
    match error.find_root() {
        DataFusionError::Execution(message) | DataFusionError::Plan(message) => message.clone(),
        root => root.strip_backtrace(),
    }
}

/// What a node computes, fixed at planning time.
#[derive(Debug)]
pub struct NodeSpec {
    /// The node's name (a pipeline node, or the call's text in SQL).
    pub node: String,
    /// The function.
    pub function: OperatorFunction,
    /// The arguments, evaluated on each input batch.
    pub arguments: Vec<Arc<dyn PhysicalExpr>>,
    /// The constant arguments, for `init`.
    pub constants: InitOptions,
    /// The output column.
    pub output: FieldRef,
    /// The settings, every layer applied.
    pub settings: RunSettings,
    /// Whether the input arrives as a pipeline segment deals it (batches of exactly
    /// `batch_size` rows, batch i in partition i % N), so that a row's position in the
    /// input is known.
    pub dealt_input: bool,
    /// On a cluster, the executors that run the node at once, as its scheduler counted
    /// them: each process keeps its share of the providers' rate limits.
    pub executors: Option<usize>,
}

/// The rows a stateful or per-batch call computes: batch `index` of the partition, or
/// only its `rows` (those the result cache did not have).
#[derive(Debug, Clone, Copy)]
struct Batch<'a> {
    index: usize,
    rows: Option<&'a [usize]>,
}

impl Batch<'_> {
    fn whole(index: usize) -> Self {
        Self { index, rows: None }
    }

    /// The batch's row that row `row` of the call is.
    fn row(&self, row: usize) -> usize {
        self.rows
            .and_then(|rows| rows.get(row).copied())
            .unwrap_or(row)
    }
}

/// The name of the gauge that shows the call size a node with `batch_size = "auto"` chose.
pub const TUNED_BATCH_SIZE: &str = "tuned_batch_size";

/// `arguments` computed in calls of the sizes `tuner` asks for, each call timed for it.
async fn tuned_calls(
    tuner: &BatchTuner,
    instance: &mut Instance,
    arguments: &[ArrayRef],
) -> Result<Computed> {
    let rows = arguments.first().map_or(0, |a| a.len());
    let mut pieces: Vec<ArrayRef> = Vec::new();
    let mut failures = Vec::new();
    let mut start = 0;
    while start < rows {
        let size = tuner.size();
        let length = size.min(rows - start);
        let call: Vec<ArrayRef> = arguments.iter().map(|a| a.slice(start, length)).collect();
        let started = Instant::now();
        let computed = instance.process(&call).await?;
        tuner.record(size, length, started.elapsed());
        failures.extend(computed.failures.into_iter().map(|mut failure| {
            failure.row += start;
            failure
        }));
        pieces.push(computed.values);
        start += length;
    }
    let values = match pieces.len() {
        0 => return instance.process(arguments).await,
        1 => pieces.remove(0),
        _ => concat(&pieces.iter().map(AsRef::as_ref).collect::<Vec<_>>())?,
    };
    Ok(Computed { values, failures })
}

/// The results to keep: for each computed row with a key and a value, the pair.
fn kept_results(
    keys: &[Option<CacheKey>],
    computed_rows: &[usize],
    computed: &ArrayRef,
) -> Result<Vec<(CacheKey, ScalarValue)>> {
    let mut kept = Vec::new();
    for (position, row) in computed_rows.iter().enumerate() {
        if let Some(key) = keys[*row]
            && computed.is_valid(position)
        {
            kept.push((key, ScalarValue::try_from_array(computed, position)?));
        }
    }
    Ok(kept)
}

/// What the partitions of one run share.
struct RunState {
    instances: Option<InstancePool>,
    slots: Semaphore,
    /// Cacheable calls in flight, by key: an identical call joins the one in flight.
    pending: Mutex<HashMap<CacheKey, Arc<PendingCall>>>,
    /// The node's usage of remote services.
    usage: UsageMetrics,
    /// Why the first nulled row failed.
    first_failure: Arc<FirstFailure>,
    /// Stateful nodes with `batch_size = "auto"`: the call size, and the gauge that shows
    /// the one chosen.
    tuner: Option<(BatchTuner, Gauge)>,
}

/// The outcome of a call in flight that identical calls wait for.
type PendingCall = tokio::sync::OnceCell<std::result::Result<ScalarValue, CallError>>;

/// The node operator.
#[derive(Debug)]
pub struct NodeExec {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<NodeSpec>,
    run: Mutex<Weak<RunState>>,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunState").finish_non_exhaustive()
    }
}

impl NodeExec {
    /// The node `spec` over `input`.
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: Arc<NodeSpec>) -> Self {
        let mut fields: Vec<FieldRef> = input.schema().fields().iter().cloned().collect();
        fields.push(Arc::clone(&spec.output));
        let schema = Arc::new(Schema::new(fields));
        let input_properties = input.properties();
        // The input's columns keep their positions, so what holds of them (orderings,
        // equalities, constants) still does.
        let equivalences = EquivalenceProperties::new(Arc::clone(&schema))
            .extend(input_properties.equivalence_properties().clone())
            .unwrap_or_else(|_| EquivalenceProperties::new(schema));
        let properties = PlanProperties::new(
            equivalences,
            input_properties.partitioning.clone(),
            input_properties.emission_type,
            input_properties.boundedness,
        );
        Self::with_properties(input, spec, Arc::new(properties))
    }

    /// What the node computes.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    fn with_properties(
        input: Arc<dyn ExecutionPlan>,
        spec: Arc<NodeSpec>,
        properties: Arc<PlanProperties>,
    ) -> Self {
        Self {
            input,
            spec,
            run: Mutex::new(Weak::new()),
            metrics: ExecutionPlanMetricsSet::new(),
            properties,
        }
    }

    /// The state of the current run, shared by its partitions: made by the first
    /// partition to start, gone when the last one is dropped.
    fn run_state(&self, partitions: usize, context: &TaskContext) -> Result<Arc<RunState>> {
        let mut run = self
            .run
            .lock()
            .map_err(|_| internal_datafusion_err!("NodeExec state poisoned"))?;
        if let Some(state) = run.upgrade() {
            return Ok(state);
        }
        let state = match executor_sharing() {
            Some(sharing) => sharing.run_of(context, &self.spec.node, || {
                self.new_run_state(sharing.slots)
            })?,
            None => self.new_run_state(partitions)?,
        };
        *run = Arc::downgrade(&state);
        Ok(state)
    }

    /// A new run state, for `partitions` partitions running at once.
    fn new_run_state(&self, partitions: usize) -> Result<Arc<RunState>> {
        let concurrency = self
            .spec
            .settings
            .max_concurrency
            .unwrap_or(partitions)
            .max(1);
        let settings = &self.spec.settings;
        let instances = match &self.spec.function {
            OperatorFunction::Stateful(function) => {
                let mut options = self.spec.constants.clone();
                options.threads = Some(settings.threads.unwrap_or_else(|| {
                    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                    (cores / concurrency.min(partitions).max(1)).max(1)
                }));
                options.precision = match settings.precision {
                    Precision::Auto => None,
                    Precision::Exactly(arithmetic) => Some(arithmetic.to_string()),
                };
                Some(InstancePool::new(
                    InstanceSource::Stateful(Arc::clone(function)),
                    options,
                    concurrency,
                    partitions,
                ))
            }
            OperatorFunction::Isolated(function) => {
                let isolation = IsolationOptions {
                    node: self.spec.node.clone(),
                    process: settings.isolation == Isolation::Process,
                    max_concurrency: settings.max_concurrency,
                    timeout: settings.timeout(),
                    max_retries: settings.max_retries,
                };
                let instances = match function.concurrent_calls() {
                    true => 1,
                    false => concurrency,
                };
                Some(InstancePool::new(
                    InstanceSource::Isolated(Arc::clone(function), isolation),
                    self.spec.constants.clone(),
                    instances,
                    partitions,
                ))
            }
            OperatorFunction::AsyncRow(_) | OperatorFunction::AsyncBatch(_) => None,
        };
        let state = Arc::new(RunState {
            instances,
            slots: Semaphore::new(concurrency),
            pending: Mutex::new(HashMap::new()),
            usage: UsageMetrics::new(&self.metrics),
            first_failure: FirstFailure::register(&self.metrics),
            tuner: (self.spec.settings.batch_size == BatchSize::Auto
                && !self.spec.function.is_async())
            .then(|| {
                (
                    BatchTuner::new(self.spec.settings.batch_size.rows()),
                    MetricBuilder::new(&self.metrics).global_gauge(TUNED_BATCH_SIZE),
                )
            }),
        });
        Ok(state)
    }
}

impl DisplayAs for NodeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let arguments = self
            .spec
            .arguments
            .iter()
            .map(|argument| argument.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let settings = &self.spec.settings;
        write!(
            f,
            "NodeExec: {}={}({arguments}) batch_size={} max_concurrency={} on_error={}",
            self.spec.node,
            self.spec.function.meta().name(),
            settings.batch_size,
            settings
                .max_concurrency
                .map_or_else(|| "partitions".to_string(), |n| n.to_string()),
            settings.on_error
        )?;
        match &self.spec.function {
            OperatorFunction::Stateful(_) => {}
            OperatorFunction::Isolated(function) => {
                write!(
                    f,
                    " isolation={} ({})",
                    settings.isolation,
                    function.origin()
                )?;
            }
            OperatorFunction::AsyncRow(_) | OperatorFunction::AsyncBatch(_) => write!(
                f,
                " timeout_ms={} max_retries={}",
                settings.timeout_ms, settings.max_retries
            )?,
        }
        Ok(())
    }
}

/// The metrics of one partition of a node.
struct NodeMetrics {
    baseline: BaselineMetrics,
    instances_built: Count,
    init_time: Time,
    batches: Count,
    rows: Count,
    compute_time: Time,
    failed_rows: Count,
    retries: Count,
}

impl NodeMetrics {
    fn new(metrics: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        let count = |name: &'static str| MetricBuilder::new(metrics).counter(name, partition);
        let time = |name: &'static str| MetricBuilder::new(metrics).subset_time(name, partition);
        Self {
            baseline: BaselineMetrics::new(metrics, partition),
            instances_built: count("instances_built"),
            init_time: time("init_time"),
            batches: count("batches"),
            rows: count("rows"),
            compute_time: time("compute_time"),
            failed_rows: count("failed_rows"),
            retries: count("retries"),
        }
    }
}

/// One partition at work.
struct Worker {
    spec: Arc<NodeSpec>,
    run: Arc<RunState>,
    schema: SchemaRef,
    partition: usize,
    partitions: usize,
    metrics: NodeMetrics,
    providers: Arc<Providers>,
}

impl Worker {
    /// Where row `row` of this partition's batch `index` is.
    fn position(&self, index: usize, row: usize) -> FailedRow {
        if self.spec.dealt_input {
            let batch = self.partition + index * self.partitions;
            FailedRow::Input(batch * self.spec.settings.batch_size.rows() + row)
        } else {
            FailedRow::Batch {
                partition: self.partition,
                batch: index,
                row,
            }
        }
    }

    /// The node's failure at `row` for `cause`.
    fn error_at(&self, row: FailedRow, cause: impl fmt::Display) -> DataFusionError {
        NodeError {
            node: self.spec.node.clone(),
            function: self.spec.function.meta().name().to_string(),
            row,
            cause: cause.to_string(),
        }
        .into()
    }

    fn failure(&self, index: usize, row: usize, cause: impl fmt::Display) -> DataFusionError {
        self.error_at(self.position(index, row), cause)
    }

    /// Under `on_error = "null"`: `rows` rows from `row` of batch `index` got nulls for
    /// `cause`; counted, and the first such failure kept for the summary.
    fn nulled(&self, index: usize, row: usize, rows: usize, cause: impl fmt::Display) {
        self.metrics.failed_rows.add(rows);
        self.run
            .first_failure
            .record(|| format!("{}: {cause}", self.position(index, row)));
    }

    /// What a try of an async call gets beside its arguments.
    fn context(&self, permit: Option<Permit>) -> CallContext<'_> {
        CallContext {
            providers: &self.providers,
            usage: &self.run.usage,
            permit,
        }
    }

    /// Computes batch `index` and appends the output column.
    async fn process(&self, index: usize, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let arguments = self
            .spec
            .arguments
            .iter()
            .map(|argument| argument.evaluate(&batch)?.into_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let started = Instant::now();
        let output = match &self.spec.function {
            OperatorFunction::AsyncRow(_) => self.async_rows(index, &arguments).await?,
            _ => self.cached_batch(index, arguments).await?,
        };
        if self.spec.function.is_async() {
            self.metrics.compute_time.add_duration(started.elapsed());
        }
        if output.len() != rows {
            return Err(self.failure(
                index,
                0,
                format!("returned {} values for {rows} rows", output.len()),
            ));
        }
        self.metrics.batches.add(1);
        self.metrics.rows.add(rows);
        self.metrics.baseline.record_output(rows);
        let mut columns = batch.columns().to_vec();
        columns.push(output);
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    /// A batch's rows through the result cache, as the node's `cache` setting says, for a
    /// stateful or per-batch function: rows whose result is kept are taken as they are, the
    /// others computed together (the whole batch when none is kept) and kept.
    async fn cached_batch(&self, index: usize, arguments: Vec<ArrayRef>) -> Result<ArrayRef> {
        let meta = self.spec.function.meta();
        let constants: Vec<Option<&ScalarValue>> = self
            .spec
            .constants
            .constants
            .iter()
            .map(Option::as_ref)
            .collect();
        let deterministic = meta.deterministic(&constants);
        let mode = self.spec.settings.cache;
        let (reads, writes) = (mode.reads(deterministic), mode.writes(deterministic));
        let cache = if reads || writes {
            ResultCache::shared()
        } else {
            None
        };
        let Some(cache) = cache else {
            return self.compute_batch(Batch::whole(index), arguments).await;
        };
        let scope = meta.cache_scope(&constants, &self.providers);
        let rows = arguments.first().map_or(0, |a| a.len());
        let mut keys = Vec::with_capacity(rows);
        for row in 0..rows {
            let values = arguments
                .iter()
                .map(|array| ScalarValue::try_from_array(array, row))
                .collect::<Result<Vec<_>>>()?;
            let skipped = values.first().is_none_or(ScalarValue::is_null);
            keys.push((!skipped).then(|| ResultCache::key(meta.name(), &scope, &values)));
        }
        let mut results: Vec<Option<ScalarValue>> = keys
            .iter()
            .map(|key| {
                key.as_ref()
                    .filter(|_| reads)
                    .and_then(|key| cache.get(key))
            })
            .collect();
        let misses: Vec<usize> = (0..rows).filter(|row| results[*row].is_none()).collect();
        self.run.usage.cache_hits.add(rows - misses.len());
        if misses.len() == rows {
            let computed = self.compute_batch(Batch::whole(index), arguments).await?;
            if writes {
                cache.put_all(&kept_results(&keys, &misses, &computed)?);
            }
            return Ok(computed);
        }
        if !misses.is_empty() {
            let indices = UInt32Array::from_iter_values(misses.iter().map(|row| *row as u32));
            let subset = arguments
                .iter()
                .map(|array| take(array.as_ref(), &indices, None))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let batch = Batch {
                index,
                rows: Some(&misses),
            };
            let computed = self.compute_batch(batch, subset).await?;
            let kept = kept_results(&keys, &misses, &computed)?;
            if writes {
                cache.put_all(&kept);
            }
            for (position, row) in misses.iter().enumerate() {
                results[*row] = Some(ScalarValue::try_from_array(&computed, position)?);
            }
        }
        ScalarValue::iter_to_array(results.into_iter().flatten())
    }

    /// A batch (or the rows of it `batch` names) of a stateful or per-batch function.
    async fn compute_batch(&self, batch: Batch<'_>, arguments: Vec<ArrayRef>) -> Result<ArrayRef> {
        match &self.spec.function {
            OperatorFunction::Stateful(_) | OperatorFunction::Isolated(_) => {
                self.stateful(batch, &arguments).await
            }
            OperatorFunction::AsyncRow(_) | OperatorFunction::AsyncBatch(_) => {
                self.async_batch(batch, arguments).await
            }
        }
    }

    /// A batch (or the rows of it `batch` names) of a stateful or isolated function.
    async fn stateful(&self, batch: Batch<'_>, arguments: &[ArrayRef]) -> Result<ArrayRef> {
        let pool = self
            .run
            .instances
            .as_ref()
            .ok_or_else(|| internal_datafusion_err!("a stateful node without instances"))?;
        let mut checkout = pool
            .acquire(
                self.partition,
                &self.metrics.instances_built,
                &self.metrics.init_time,
            )
            .await
            .map_err(|error| self.error_at(FailedRow::Start, message(&error)))?;
        let output = {
            let _timer = self.metrics.compute_time.timer();
            let computed = match &self.run.tuner {
                Some((tuner, gauge)) => {
                    let computed = tuned_calls(tuner, checkout.instance(), arguments).await;
                    gauge.set(tuner.chosen().unwrap_or_default());
                    computed
                }
                None => checkout.instance().process(arguments).await,
            };
            match computed {
                Ok(computed) => self.failed_rows(batch, computed),
                Err(error) => {
                    self.isolate_failing_rows(batch, arguments, error, checkout.instance())
                        .await
                }
            }
        };
        pool.release(checkout);
        output
    }

    /// The values of a call that named the rows it failed on: nulls for them under
    /// `on_error = "null"` (counted, the first kept), else the first one's failure.
    fn failed_rows(&self, batch: Batch<'_>, computed: Computed) -> Result<ArrayRef> {
        let Some(first) = computed.failures.first() else {
            return Ok(computed.values);
        };
        if self.spec.settings.on_error != OnError::Null {
            return Err(self.failure(batch.index, batch.row(first.row), &first.message));
        }
        for failure in &computed.failures {
            self.nulled(batch.index, batch.row(failure.row), 1, &failure.message);
        }
        Ok(computed.values)
    }

    /// After a batch failed: computes it row by row on `instance`, to name the first
    /// failing row or, with `on_error = null`, to null only the rows that fail.
    async fn isolate_failing_rows(
        &self,
        batch: Batch<'_>,
        arguments: &[ArrayRef],
        batch_error: DataFusionError,
        instance: &mut Instance,
    ) -> Result<ArrayRef> {
        let rows = arguments.first().map_or(0, |a| a.len());
        let data_type = self.spec.output.data_type();
        let mut pieces: Vec<ArrayRef> = Vec::with_capacity(rows);
        for row in 0..rows {
            let single: Vec<ArrayRef> = arguments.iter().map(|a| a.slice(row, 1)).collect();
            let computed = instance.process(&single).await.and_then(|computed| {
                match computed.failures.into_iter().next() {
                    Some(failure) => Err(DataFusionError::Execution(failure.message)),
                    None => Ok(computed.values),
                }
            });
            match computed {
                Ok(value) => pieces.push(value),
                Err(error) if self.spec.settings.on_error == OnError::Null => {
                    self.nulled(batch.index, batch.row(row), 1, message(&error));
                    pieces.push(new_null_array(data_type, 1));
                }
                Err(error) => {
                    return Err(self.failure(batch.index, batch.row(row), message(&error)));
                }
            }
        }
        if pieces.is_empty() {
            return Err(self.failure(batch.index, batch.row(0), message(&batch_error)));
        }
        let pieces: Vec<&dyn Array> = pieces.iter().map(|p| p.as_ref()).collect();
        Ok(concat(&pieces)?)
    }

    /// One row's call, through the result cache as the node's `cache` setting says: a
    /// result kept on disk is taken as it is, an identical call in flight is joined, and a
    /// new result is kept.
    async fn cached_call(
        &self,
        function: &dyn AsyncRowFunction,
        values: &[ScalarValue],
        data_type: &DataType,
    ) -> std::result::Result<ScalarValue, CallError> {
        let arguments: Vec<Option<&ScalarValue>> = values.iter().map(Some).collect();
        let deterministic = function.deterministic(&arguments);
        let mode = self.spec.settings.cache;
        let (reads, writes) = (mode.reads(deterministic), mode.writes(deterministic));
        if !(reads || writes) {
            return self.call(function, values, data_type).await;
        }
        let scope = function.cache_scope(&arguments, &self.providers);
        let key = ResultCache::key(function.name(), &scope, values);
        let cache = ResultCache::shared();
        if reads && let Some(value) = cache.as_ref().and_then(|cache| cache.get(&key)) {
            self.run.usage.cache_hits.add(1);
            return Ok(value);
        }
        let pending = {
            let mut pending = self.run.pending.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(pending.entry(key).or_default())
        };
        let joined = AtomicBool::new(true);
        let outcome = pending
            .get_or_init(|| async {
                joined.store(false, Ordering::Relaxed);
                let outcome = self.call(function, values, data_type).await;
                if let (Ok(value), true, Some(cache)) = (&outcome, writes, &cache) {
                    cache.put_all(&[(key, value.clone())]);
                }
                outcome
            })
            .await
            .clone();
        if joined.load(Ordering::Relaxed) {
            self.run.usage.cache_hits.add(1);
        } else {
            let mut all = self.run.pending.lock().unwrap_or_else(|p| p.into_inner());
            all.remove(&key);
        }
        outcome
    }

    /// The node's `budget_usd` and `max_tokens_total`: once either is spent, calls fail
    /// (or give nulls, by `on_error`) saying so.
    fn check_budget(&self) -> std::result::Result<(), CallError> {
        let usage = &self.run.usage;
        let settings = &self.spec.settings;
        let spent = usage.cost_nanodollars.value() as u64;
        if let Some(budget) = settings.budget_usd
            && spent >= budget.nanodollars()
        {
            return Err(CallError::permanent(format!(
                "budget_usd = {budget} is spent (${:.6}); the node sends no more calls",
                spent as f64 / 1e9
            )));
        }
        let tokens = usage
            .input_tokens
            .value()
            .saturating_add(usage.output_tokens.value()) as u64;
        if let Some(limit) = settings.max_tokens_total
            && tokens >= limit
        {
            return Err(CallError::permanent(format!(
                "max_tokens_total = {limit} is spent ({tokens} tokens); the node sends no more calls"
            )));
        }
        Ok(())
    }

    /// A call within the node's budget, admitted by its service's limiter (`admission`, as
    /// the function asked), timed out and retried.
    async fn retried<T, F, Fut>(
        &self,
        admission: std::result::Result<Option<Admission>, CallError>,
        call: F,
    ) -> std::result::Result<T, CallError>
    where
        F: FnMut(Option<Permit>) -> Fut,
        Fut: Future<Output = std::result::Result<T, CallError>>,
    {
        self.check_budget()?;
        let admission = admission?;
        with_retries(
            &self.run.slots,
            &self.spec.settings,
            &self.metrics.retries,
            &self.run.usage,
            admission.as_ref(),
            call,
        )
        .await
    }

    /// One row's call: admitted by its service's limiter, timed out and retried.
    async fn call(
        &self,
        function: &dyn AsyncRowFunction,
        values: &[ScalarValue],
        data_type: &DataType,
    ) -> std::result::Result<ScalarValue, CallError> {
        self.retried(function.admission(values, &self.providers), |permit| {
            function.call(values, data_type, self.context(permit))
        })
        .await
    }

    async fn async_rows(&self, index: usize, arguments: &[ArrayRef]) -> Result<ArrayRef> {
        let OperatorFunction::AsyncRow(function) = &self.spec.function else {
            return Err(internal_datafusion_err!("not a per-row async node"));
        };
        let rows = arguments.first().map_or(0, |a| a.len());
        let data_type = self.spec.output.data_type();
        let concurrency = self.spec.settings.max_concurrency.unwrap_or(1).max(1);
        // Unordered, so that a slow call does not hold back the calls after it (head-of-line
        // blocking); the results are put back in row order.
        let mut calls = futures::stream::iter(0..rows)
            .map(|row| async move {
                let call = async {
                    let values = arguments
                        .iter()
                        .map(|array| ScalarValue::try_from_array(array, row))
                        .collect::<Result<Vec<_>>>()
                        .map_err(|error| CallError::permanent(error.to_string()))?;
                    if skips_row(function.as_ref(), &values) {
                        return ScalarValue::try_from(data_type)
                            .map_err(|error| CallError::permanent(error.to_string()));
                    }
                    self.cached_call(function.as_ref(), &values, data_type)
                        .await
                };
                (row, call.await)
            })
            .buffer_unordered(concurrency.min(rows.max(1)))
            .collect::<Vec<_>>()
            .await;
        calls.sort_unstable_by_key(|(row, _)| *row);
        let mut values = Vec::with_capacity(rows);
        for (row, outcome) in calls {
            match outcome {
                Ok(value) => values.push(value),
                Err(error) if !error.fatal && self.spec.settings.on_error == OnError::Null => {
                    self.nulled(index, row, 1, error);
                    values.push(ScalarValue::try_from(data_type)?);
                }
                Err(error) => return Err(self.failure(index, row, error)),
            }
        }
        if values.is_empty() {
            return Ok(new_empty_array(data_type));
        }
        ScalarValue::iter_to_array(values)
    }

    async fn async_batch(&self, batch: Batch<'_>, arguments: Vec<ArrayRef>) -> Result<ArrayRef> {
        let OperatorFunction::AsyncBatch(function) = &self.spec.function else {
            return Err(internal_datafusion_err!("not a per-batch async node"));
        };
        let rows = arguments.first().map_or(0, |a| a.len());
        let outcome = self
            .retried(function.admission(&arguments, &self.providers), |permit| {
                function.call(&arguments, self.context(permit))
            })
            .await;
        match outcome {
            Ok(output) => Ok(output),
            Err(error) if !error.fatal && self.spec.settings.on_error == OnError::Null => {
                self.nulled(batch.index, batch.row(0), rows, error);
                Ok(new_null_array(self.spec.output.data_type(), rows))
            }
            Err(error) => Err(self.failure(batch.index, batch.row(0), error)),
        }
    }
}

impl ExecutionPlan for NodeExec {
    fn name(&self) -> &str {
        "NodeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    /// Every partition's batches come out in the order they went in.
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for argument in &self.spec.arguments {
            if f(argument)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = super::only_child(self.name(), children)?;
        let spec = Arc::clone(&self.spec);
        Ok(Arc::new(match options.children_properties {
            ChildrenPropertiesMode::Keep => {
                Self::with_properties(input, spec, Arc::clone(&self.properties))
            }
            ChildrenPropertiesMode::Recompute => Self::new(input, spec),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let partitions = self.input.properties().partitioning.partition_count();
        let run = self.run_state(partitions, &context)?;
        let providers = context
            .session_config()
            .options()
            .extensions
            .get::<SessionOptions>()
            .map(|options| options.providers.clone())
            .unwrap_or_default();
        let providers = Arc::new(match self.spec.executors {
            Some(executors) if executors > 1 => providers.shared_among(executors),
            _ => providers,
        });
        let input = rechunk_stream(
            self.input.execute(partition, context)?,
            self.spec.settings.batch_size.rows(),
            |_| {},
        );
        let worker = Arc::new(Worker {
            spec: Arc::clone(&self.spec),
            run: Arc::clone(&run),
            schema: self.schema(),
            partition,
            partitions,
            metrics: NodeMetrics::new(&self.metrics, partition),
            providers,
        });
        let in_flight = match self.spec.function.is_async() {
            false => 1,
            true => self.spec.settings.max_concurrency.unwrap_or(1).max(1),
        };
        let batches = {
            let worker = Arc::clone(&worker);
            input
                .enumerate()
                .map(move |(index, item)| {
                    let worker = Arc::clone(&worker);
                    async move { worker.process(index, item?).await }
                })
                .buffered(in_flight)
        };
        // When the input is done, the last partition tears the instances down.
        let finish = futures::stream::once(async move {
            match &run.instances {
                Some(pool) => pool.finish_partition().await,
                None => Ok(()),
            }
        })
        .filter_map(|outcome| async move { outcome.err().map(Err) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            batches.chain(finish),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::datasource::source::DataSourceExec;
    use datafusion::physical_expr::expressions::Column;
    use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
    use nodefusion_function::{FunctionInstance, operator_function, stateful};

    use super::*;
    use crate::settings::NodeSettings;

    struct Identity;

    impl FunctionInstance for Identity {
        fn process(&mut self, args: &[ArrayRef]) -> Result<ArrayRef> {
            Ok(Arc::clone(&args[0]))
        }
    }

    #[test]
    fn the_output_keeps_the_inputs_ordering_and_says_so() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![ids]).unwrap();
        let id: Arc<dyn PhysicalExpr> = Arc::new(Column::new("id", 0));
        let ordering = LexOrdering::new([PhysicalSortExpr::new_default(Arc::clone(&id))]).unwrap();
        let source = MemorySourceConfig::try_new(&[vec![batch]], schema, None)
            .and_then(|source| source.try_with_sort_information(vec![ordering.clone()]))
            .unwrap();
        let udf = stateful("same", vec![DataType::Int64], DataType::Int64, |_| {
            Ok(Identity)
        });
        let spec = NodeSpec {
            node: "same".into(),
            function: operator_function(&udf).unwrap(),
            arguments: vec![id],
            constants: InitOptions::default(),
            output: Arc::new(Field::new("same", DataType::Int64, true)),
            settings: NodeSettings::default().with_builtins(),
            dealt_input: false,
            executors: None,
        };
        let node = NodeExec::new(DataSourceExec::from_data_source(source), Arc::new(spec));
        assert_eq!(node.properties().output_ordering(), Some(&ordering));
        assert_eq!(node.maintains_input_order(), vec![true]);
    }
}
