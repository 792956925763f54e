//! [`RechunkExec`]: re-cuts a stream into batches of exactly `batch_size` rows (the last
//! may be shorter), in order. Slicing is zero-copy; only rows that straddle two input
//! batches are copied, to join them.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions,
};
use futures::StreamExt;

/// Cuts batches into pieces of exactly `batch_size` rows. Not arrow's `BatchCoalescer`,
/// which gives the same batches but copies every row into buffers of its own (it is made
/// for gluing small batches together); here a piece of one input batch is a zero-copy
/// slice, and only a batch that straddles two inputs is copied.
#[derive(Debug)]
pub struct Rechunker {
    schema: SchemaRef,
    batch_size: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

impl Rechunker {
    /// A rechunker of batches of `schema` into `batch_size` rows (at least 1).
    pub fn new(schema: SchemaRef, batch_size: usize) -> Self {
        Self {
            schema,
            batch_size: batch_size.max(1),
            pending: Vec::new(),
            pending_rows: 0,
        }
    }

    /// Adds `batch`; appends every batch it completes to `ready`.
    pub fn push(&mut self, batch: RecordBatch, ready: &mut VecDeque<RecordBatch>) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (self.batch_size - self.pending_rows).min(batch.num_rows() - offset);
            self.pending.push(batch.slice(offset, take));
            self.pending_rows += take;
            offset += take;
            if self.pending_rows == self.batch_size {
                ready.push_back(self.take_pending()?);
            }
        }
        Ok(())
    }

    /// The rows still held, as a last (shorter) batch.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if self.pending_rows == 0 {
            return Ok(None);
        }
        self.take_pending().map(Some)
    }

    fn take_pending(&mut self) -> Result<RecordBatch> {
        self.pending_rows = 0;
        let pieces = std::mem::take(&mut self.pending);
        match <[RecordBatch; 1]>::try_from(pieces) {
            Ok([single]) => Ok(single),
            Err(pieces) => Ok(concat_batches(&self.schema, &pieces)?),
        }
    }
}

/// `input` re-cut into batches of `batch_size` rows; `observe` sees each batch made.
pub fn rechunk_stream(
    input: SendableRecordBatchStream,
    batch_size: usize,
    observe: impl Fn(&RecordBatch) + Send + 'static,
) -> SendableRecordBatchStream {
    let schema = input.schema();
    let state = (
        input,
        Rechunker::new(Arc::clone(&schema), batch_size),
        VecDeque::<RecordBatch>::new(),
        false,
    );
    let stream = futures::stream::unfold(
        state,
        |(mut input, mut rechunker, mut ready, mut done)| async move {
            loop {
                if let Some(batch) = ready.pop_front() {
                    return Some((Ok(batch), (input, rechunker, ready, done)));
                }
                if done {
                    return None;
                }
                let step = match input.next().await {
                    Some(Ok(batch)) => rechunker.push(batch, &mut ready),
                    Some(Err(error)) => Err(error),
                    None => {
                        done = true;
                        rechunker.finish().map(|last| ready.extend(last))
                    }
                };
                if let Err(error) = step {
                    return Some((Err(error), (input, rechunker, ready, true)));
                }
            }
        },
    )
    .inspect(move |item| {
        if let Ok(batch) = item {
            observe(batch);
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, stream))
}

/// The operator around a [`Rechunker`].
#[derive(Debug, Clone)]
pub struct RechunkExec {
    input: Arc<dyn ExecutionPlan>,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
}

impl RechunkExec {
    /// Re-cuts every partition of `input` into batches of `batch_size` rows.
    pub fn new(input: Arc<dyn ExecutionPlan>, batch_size: usize) -> Self {
        let properties = Arc::clone(input.properties());
        Self {
            input,
            batch_size,
            metrics: ExecutionPlanMetricsSet::new(),
            properties,
        }
    }

    /// The rows per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
}

impl DisplayAs for RechunkExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RechunkExec: batch_size={}", self.batch_size)
    }
}

impl ExecutionPlan for RechunkExec {
    fn name(&self) -> &str {
        "RechunkExec"
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

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = super::only_child(self.name(), children)?;
        Ok(match options.children_properties {
            ChildrenPropertiesMode::Keep => Arc::new(Self {
                input,
                metrics: ExecutionPlanMetricsSet::new(),
                ..(*self).clone()
            }),
            ChildrenPropertiesMode::Recompute => Arc::new(Self::new(input, self.batch_size)),
        })
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
        let input = self.input.execute(partition, context)?;
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        Ok(rechunk_stream(input, self.batch_size, move |batch| {
            metrics.record_output(batch.num_rows());
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    fn batch(schema: &SchemaRef, values: std::ops::Range<i64>) -> RecordBatch {
        let column = Arc::new(Int64Array::from_iter_values(values));
        RecordBatch::try_new(Arc::clone(schema), vec![column]).unwrap()
    }

    #[test]
    fn every_batch_but_the_last_has_batch_size_rows_in_order() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let mut rechunker = Rechunker::new(Arc::clone(&schema), 7);
        let mut ready = VecDeque::new();
        for range in [0..3, 3..20, 20..21, 21..30] {
            rechunker.push(batch(&schema, range), &mut ready).unwrap();
        }
        ready.extend(rechunker.finish().unwrap());
        let sizes: Vec<usize> = ready.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, vec![7, 7, 7, 7, 2]);
        let values: Vec<i64> = ready
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(values, (0..30).collect::<Vec<_>>());
    }
}
