//! [`ScatterExec`]: deals the batches of a single input partition round-robin over N output
//! partitions (batch i to partition i % N), so that N copies of the operators above run in
//! parallel and a [`super::GatherExec`] can put the batches back in their original order.

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_datafusion_err, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;
use tokio::sync::mpsc;

/// Batches each output partition may hold before the dealer waits for it.
const CHANNEL_CAPACITY: usize = 2;

type Receiver = mpsc::Receiver<Result<RecordBatch>>;

/// The state of one execution: the dealer task and the receivers not yet handed out.
#[derive(Debug, Default)]
struct Deal {
    receivers: Vec<Option<Receiver>>,
    dealer: Option<Arc<SpawnedTask<()>>>,
}

/// Round-robin scatter of one partition over `partitions`.
#[derive(Debug)]
pub struct ScatterExec {
    input: Arc<dyn ExecutionPlan>,
    partitions: usize,
    deal: Mutex<Deal>,
    properties: Arc<PlanProperties>,
}

impl ScatterExec {
    /// Deals the batches of `input` (one partition) over `partitions` partitions.
    pub fn try_new(input: Arc<dyn ExecutionPlan>, partitions: usize) -> Result<Self> {
        let input_partitions = input.properties().partitioning.partition_count();
        if input_partitions != 1 {
            return internal_err!("ScatterExec needs one input partition, got {input_partitions}");
        }
        let properties = PlanProperties::clone(input.properties())
            .with_partitioning(Partitioning::UnknownPartitioning(partitions));
        Ok(Self::with_properties(
            input,
            partitions,
            Arc::new(properties),
        ))
    }

    /// The partitions dealt over.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    fn with_properties(
        input: Arc<dyn ExecutionPlan>,
        partitions: usize,
        properties: Arc<PlanProperties>,
    ) -> Self {
        Self {
            input,
            partitions,
            deal: Mutex::new(Deal::default()),
            properties,
        }
    }

    /// Starts the dealer: it reads the input and sends batch i to partition i % N, and an
    /// error to the partition whose turn it is, so that the gather meets it in order.
    fn start(&self, deal: &mut Deal, context: Arc<TaskContext>) -> Result<()> {
        let mut input = self.input.execute(0, context)?;
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..self.partitions)
            .map(|_| mpsc::channel(CHANNEL_CAPACITY))
            .unzip();
        deal.receivers = receivers.into_iter().map(Some).collect();
        deal.dealer = Some(Arc::new(SpawnedTask::spawn(async move {
            let mut turn = 0;
            while let Some(item) = input.next().await {
                let failed = item.is_err();
                if senders[turn].send(item).await.is_err() || failed {
                    return;
                }
                turn = (turn + 1) % senders.len();
            }
        })));
        Ok(())
    }
}

impl DisplayAs for ScatterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ScatterExec: partitions={} (round-robin by batch)",
            self.partitions
        )
    }
}

impl ExecutionPlan for ScatterExec {
    fn name(&self) -> &str {
        "ScatterExec"
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
            ChildrenPropertiesMode::Keep => {
                Self::with_properties(input, self.partitions, Arc::clone(&self.properties))
            }
            ChildrenPropertiesMode::Recompute => Self::try_new(input, self.partitions)?,
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
        let mut deal = self
            .deal
            .lock()
            .map_err(|_| internal_datafusion_err!("ScatterExec state poisoned"))?;
        if deal.receivers.iter().all(Option::is_none) {
            self.start(&mut deal, context)?;
        }
        let receiver = deal
            .receivers
            .get_mut(partition)
            .and_then(Option::take)
            .ok_or_else(|| {
                internal_datafusion_err!("ScatterExec partition {partition} executed twice")
            })?;
        let dealer = deal.dealer.clone();
        let stream = futures::stream::unfold((receiver, dealer), |(mut receiver, dealer)| async {
            let item = receiver.recv().await?;
            Some((item, (receiver, dealer)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }
}
