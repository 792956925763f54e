//! [`CommitExec`]: runs a file sink that writes into a [`Staging`] location and commits it
//! once every row is written. A failed or cancelled write leaves the target as it was:
//! the staging location goes when the plan is dropped.

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt};

use crate::io::Staging;

/// A sink writing into `staging`, committed when the sink has finished.
#[derive(Debug)]
pub struct CommitExec {
    sink: Arc<dyn ExecutionPlan>,
    staging: Arc<Mutex<Option<Staging>>>,
}

impl CommitExec {
    /// Commits `staging` once `sink`, which writes into it, has written every row.
    pub fn new(sink: Arc<dyn ExecutionPlan>, staging: Staging) -> Self {
        Self {
            sink,
            staging: Arc::new(Mutex::new(Some(staging))),
        }
    }
}

impl DisplayAs for CommitExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "CommitExec: written aside, moved into place when complete"
        )
    }
}

impl ExecutionPlan for CommitExec {
    fn name(&self) -> &str {
        "CommitExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.sink.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.sink]
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
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self {
            sink: super::only_child(self.name(), children)?,
            staging: Arc::clone(&self.staging),
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
        if self.sink.properties().partitioning.partition_count() != 1 {
            return internal_err!("CommitExec commits a sink of one partition");
        }
        let written = self.sink.execute(partition, context)?;
        let staging = Arc::clone(&self.staging);
        let committed = futures::stream::once(async move {
            let counts: Vec<RecordBatch> = written.try_collect().await?;
            let taken = staging
                .lock()
                .map(|mut staging| staging.take())
                .ok()
                .flatten();
            let Some(staging) = taken else {
                return internal_err!("this write was committed already");
            };
            staging
                .commit()
                .await
                .map_err(|error| DataFusionError::External(Box::new(error)))?;
            Ok(futures::stream::iter(counts.into_iter().map(Ok)))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            committed.boxed(),
        )))
    }
}
