//! [`PartWriterExec`]: on a cluster's executor, the rows of one part of a pipeline's input
//! (a partition of the spread plan, see `spread`, whose rows carry their part's number in
//! their last column) written as one Parquet file into the output's staging prefix in an
//! object store: `part-00003-RUN.parquet`, named by the part,
//! so that a task run again after its executor died writes the same file again (the output
//! holds every row once) and the client commits the parts in input order. Beside it,
//! `_parts/part-00003.json` says what the part's nodes did ([`PartReport`]), for the run's
//! summary. No row passes through the client or a merge task: each task puts out one row,
//! its part and its rows.
//!
//! The client keeps a lease in the staging prefix while it waits for the job; a task that
//! finds it gone (the client was interrupted, and removed its staging) or not renewed for
//! long (the client died) fails, and with it the job: a job nobody waits for stops.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::compile::chain_from_leaf;
use crate::io::{LEASE, LEASE_EXPIRY};
use crate::parts::{PartReport, PartsTarget, report_key};
use crate::run::NodeTiming;

/// How often a task looks at the client's lease (a request to the store a second: the
/// tasks of a job that is cancelled on the scheduler run on, which Ballista does not stop).
const LEASE_CHECK: Duration = Duration::from_secs(1);

/// How long a lease may go unrenewed, by this machine's clock, before its client counts
/// as gone: the lease's own expiry, and a minute for clocks that differ from the store's.
const CLIENT_GONE_AFTER: Duration = LEASE_EXPIRY.saturating_add(Duration::from_secs(60));

/// Writes each partition of `input` (a part of the spread plan, without the part column)
/// as one Parquet file into `target`'s staging prefix.
#[derive(Debug)]
pub struct PartWriterExec {
    input: Arc<dyn ExecutionPlan>,
    target: PartsTarget,
    /// Each node and the positions of its operators in `input`'s chain from the leaf.
    nodes: Vec<(String, Vec<usize>)>,
    properties: Arc<PlanProperties>,
}

impl PartWriterExec {
    /// A writer of every partition of `input` into `target`; `nodes` says which operators
    /// of `input`'s chain compute each node.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        target: PartsTarget,
        nodes: Vec<(String, Vec<usize>)>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(written_schema()),
            Partitioning::UnknownPartitioning(input.properties().partitioning.partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            target,
            nodes,
            properties,
        }
    }

    /// Where and how it writes.
    pub fn target(&self) -> &PartsTarget {
        &self.target
    }

    /// Each node and the positions of its operators in the input's chain.
    pub fn nodes(&self) -> &[(String, Vec<usize>)] {
        &self.nodes
    }
}

/// What a writer puts out: a row per part.
fn written_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("part", DataType::UInt32, false),
        Field::new("rows", DataType::UInt64, false),
    ]))
}

impl DisplayAs for PartWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "PartWriterExec: {}part-N-{}.parquet compression={} row_group_size={}",
            self.target.staging_url,
            self.target.run,
            self.target.compression,
            self.target.row_group_rows
        )
    }
}

impl ExecutionPlan for PartWriterExec {
    fn name(&self) -> &str {
        "PartWriterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
        let input = crate::exec::only_child(self.name(), children)?;
        Ok(Arc::new(Self::new(
            input,
            self.target.clone(),
            self.nodes.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let staging = ListingTableUrl::parse(&self.target.staging_url)?;
        let store = context.runtime_env().object_store(staging.object_store())?;
        let rows = self.input.execute(partition, context)?;
        let part = Part {
            store,
            prefix: staging.prefix().clone(),
            partition,
            target: self.target.clone(),
            input: Arc::clone(&self.input),
            nodes: self.nodes.clone(),
        };
        let written = futures::stream::once(part.write(rows));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            written_schema(),
            written,
        )))
    }
}

/// One partition of the spread plan being written.
struct Part {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The partition in this task's plan (not the part: a task's plan holds only its own
    /// parts, numbered from 0; the part comes with the rows).
    partition: usize,
    target: PartsTarget,
    input: Arc<dyn ExecutionPlan>,
    nodes: Vec<(String, Vec<usize>)>,
}

impl Part {
    /// The key of `name` (a `/`-separated path) in the staging prefix.
    fn key(&self, name: &str) -> ObjectPath {
        name.split('/')
            .fold(self.prefix.clone(), |key, part| key.join(part))
    }

    /// Writes every row of `rows` into the part's file, then its report; the row saying so.
    async fn write(self, mut rows: SendableRecordBatchStream) -> Result<RecordBatch> {
        let width = rows.schema().fields().len().saturating_sub(1);
        let columns: Vec<usize> = (0..width).collect();
        let schema = Arc::new(rows.schema().project(&columns)?);
        let lease = self.key(LEASE);
        let mut lease_check = tokio::time::interval(LEASE_CHECK);
        let mut part = None;
        let mut writer = None;
        let mut written = 0;
        loop {
            tokio::select! {
                batch = rows.next() => match batch {
                    Some(batch) => {
                        let batch = batch?;
                        if batch.num_rows() == 0 {
                            continue;
                        }
                        if writer.is_none() {
                            let number = part_of(&batch, width)?;
                            writer = Some(self.writer(number, Arc::clone(&schema))?);
                            part = Some(number);
                        }
                        if let Some(writer) = writer.as_mut() {
                            writer.write(&batch.project(&columns)?).await?;
                        }
                        written += batch.num_rows();
                    }
                    None => break,
                },
                _ = lease_check.tick() => client_is_waiting(&self.store, &lease).await?,
            }
        }
        if let (Some(writer), Some(part)) = (writer, part) {
            writer.close().await?;
            self.report(part, written).await?;
        }
        let part = part.map_or(u32::MAX, |part| u32::try_from(part).unwrap_or(u32::MAX));
        Ok(RecordBatch::try_new(
            written_schema(),
            vec![
                Arc::new(UInt32Array::from(vec![part])),
                Arc::new(UInt64Array::from(vec![written as u64])),
            ],
        )?)
    }

    /// The writer of part `part`'s file, of rows of `schema`.
    fn writer(&self, part: usize, schema: SchemaRef) -> Result<AsyncArrowWriter<BufWriter>> {
        let file = self.key(&format!("part-{part:05}-{}.parquet", self.target.run));
        let compression =
            datafusion::common::file_options::parquet_writer::parse_compression_string(
                &self.target.compression,
            )?;
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.target.row_group_rows.max(1)))
            .build();
        let upload = BufWriter::new(Arc::clone(&self.store), file);
        Ok(AsyncArrowWriter::try_new(upload, schema, Some(properties))?)
    }

    /// Writes what part `part`'s nodes did (this partition's figures) beside its file.
    async fn report(&self, part: usize, rows: usize) -> Result<()> {
        let chain = chain_from_leaf(&self.input);
        let nodes = self
            .nodes
            .iter()
            .map(|(node, positions)| {
                let operators: Vec<_> = positions
                    .iter()
                    .filter_map(|position| chain.get(*position).cloned())
                    .collect();
                NodeTiming::of(node, &operators, Some(self.partition))
            })
            .collect();
        let report = PartReport { rows, nodes };
        let bytes = serde_json::to_vec(&report)
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
        self.store
            .put(&self.key(&report_key(part)), PutPayload::from(bytes))
            .await?;
        Ok(())
    }
}

/// The part the rows of `batch` belong to: its column `column`, the same in every row.
fn part_of(batch: &RecordBatch, column: usize) -> Result<usize> {
    let parts = batch
        .column(column)
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| DataFusionError::Internal("the part column is not UInt32".into()))?;
    Ok(parts.value(0) as usize)
}

/// An error unless the client's lease at `lease` is there and was renewed lately.
async fn client_is_waiting(store: &Arc<dyn ObjectStore>, lease: &ObjectPath) -> Result<()> {
    let gone = |why: String| {
        DataFusionError::Execution(format!(
            "the client that started this job is gone ({why}): the job stops"
        ))
    };
    match store.head(lease).await {
        Ok(found) => {
            let age = SystemTime::from(found.last_modified)
                .elapsed()
                .unwrap_or_default();
            match age > CLIENT_GONE_AFTER {
                true => Err(gone(format!(
                    "its lease {lease} was last renewed {} s ago",
                    age.as_secs()
                ))),
                false => Ok(()),
            }
        }
        Err(object_store::Error::NotFound { .. }) => {
            Err(gone(format!("its lease {lease} was removed")))
        }
        // The store out of reach for a moment: the write itself will say if it stays so.
        Err(_) => Ok(()),
    }
}
