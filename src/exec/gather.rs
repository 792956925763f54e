//! [`GatherExec`]: runs every partition of its input at once and takes their batches back
//! in round-robin order: the inverse of [`super::ScatterExec`] when every operator in
//! between turns one batch into exactly one batch, as projections do.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;
use tokio::sync::mpsc;

/// Batches each partition may run ahead of the consumer.
const CHANNEL_CAPACITY: usize = 2;

/// Order-restoring gather of all partitions into one.
#[derive(Debug, Clone)]
pub struct GatherExec {
    input: Arc<dyn ExecutionPlan>,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
}

impl GatherExec {
    /// Gathers every partition of `input` into one, in round-robin order.
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        let properties = PlanProperties::clone(input.properties())
            .with_partitioning(Partitioning::UnknownPartitioning(1));
        Self {
            input,
            metrics: ExecutionPlanMetricsSet::new(),
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for GatherExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "GatherExec: order=round-robin")
    }
}

impl ExecutionPlan for GatherExec {
    fn name(&self) -> &str {
        "GatherExec"
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
        Ok(Arc::new(match options.children_properties {
            ChildrenPropertiesMode::Keep => Self {
                input,
                metrics: ExecutionPlanMetricsSet::new(),
                properties: Arc::clone(&self.properties),
            },
            ChildrenPropertiesMode::Recompute => Self::new(input),
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
        if partition != 0 {
            return internal_err!("GatherExec has one output partition, asked for {partition}");
        }
        let partitions = self.input.properties().partitioning.partition_count();
        let mut receivers = Vec::with_capacity(partitions);
        let mut workers = Vec::with_capacity(partitions);
        for index in 0..partitions {
            let (sender, receiver) = mpsc::channel::<Result<RecordBatch>>(CHANNEL_CAPACITY);
            let input = Arc::clone(&self.input);
            let context = Arc::clone(&context);
            workers.push(SpawnedTask::spawn(async move {
                let mut stream = match input.execute(index, context) {
                    Ok(stream) => stream,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                while let Some(item) = stream.next().await {
                    let failed = item.is_err();
                    if sender.send(item).await.is_err() || failed {
                        return;
                    }
                }
            }));
            receivers.push(receiver);
        }
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        // Partition i holds batches i, i + N, ...: the first partition to run dry marks
        // the end of the data. The others then end too; waiting for them lets each finish
        // its work (its stateful and Python instances torn down before the run returns)
        // and report an error that comes last.
        let stream = futures::stream::unfold(
            (receivers, workers, 0usize, metrics),
            |(mut receivers, workers, turn, metrics)| async move {
                if let Some(item) = receivers[turn].recv().await {
                    if let Ok(batch) = &item {
                        metrics.record_output(batch.num_rows());
                    }
                    let next = (turn + 1) % receivers.len();
                    return Some((item, (receivers, workers, next, metrics)));
                }
                for index in 0..receivers.len() {
                    while let Some(item) = receivers[index].recv().await {
                        if item.is_err() {
                            return Some((item, (receivers, workers, turn, metrics)));
                        }
                    }
                }
                None
            },
        );
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
