//! Physical planning of nodefusion's logical nodes, plugged into DataFusion's own planner.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{Result, internal_err};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::{Exchange, ExchangeNode};
use crate::exec::{GatherExec, RechunkExec, ScatterExec};

/// Plans [`ExchangeNode`]s into [`RechunkExec`], [`ScatterExec`] and [`GatherExec`].
#[derive(Debug, Default)]
pub struct NodefusionExtensionPlanner;

#[async_trait]
impl ExtensionPlanner for NodefusionExtensionPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &dyn Session,
        _planning_context: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(exchange) = node.as_any().downcast_ref::<ExchangeNode>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return internal_err!("an exchange takes one input");
        };
        let input = Arc::clone(input);
        Ok(Some(match exchange.exchange() {
            Exchange::Rechunk { batch_size } => Arc::new(RechunkExec::new(input, batch_size)),
            Exchange::Scatter { partitions } => Arc::new(ScatterExec::try_new(input, partitions)?),
            Exchange::Gather => Arc::new(GatherExec::new(input)),
        }))
    }
}

/// DataFusion's query planner with nodefusion's extension planner added.
#[derive(Debug, Default)]
pub struct NodefusionQueryPlanner;

#[async_trait]
impl QueryPlanner for NodefusionQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(NodefusionExtensionPlanner)])
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}
