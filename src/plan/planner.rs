//! Physical planning of nodefusion's logical nodes, plugged into DataFusion's own planner.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{Result, internal_err};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use nodefusion_function::{InitOptions, operator_function};

use super::{Exchange, ExchangeNode, NodeCallNode, plan_copy};
use crate::exec::{GatherExec, NodeExec, NodeSpec, RechunkExec, ScatterExec};

/// The operator of a [`NodeCallNode`].
fn plan_node_call(
    planner: &dyn PhysicalPlanner,
    call: &NodeCallNode,
    logical_inputs: &[&LogicalPlan],
    input: Arc<dyn ExecutionPlan>,
    session_state: &dyn Session,
    planning_context: &PhysicalPlanningContext,
) -> Result<Arc<dyn ExecutionPlan>> {
    let [logical_input] = logical_inputs else {
        return internal_err!("NodeCall takes one input");
    };
    let input_schema = logical_input.schema();
    // Type coercion may have aliased the call to keep its name (a NULL argument coerced).
    let mut unaliased = call.call();
    while let Expr::Alias(alias) = unaliased {
        unaliased = &alias.expr;
    }
    let function = match unaliased {
        Expr::ScalarFunction(function_call) => {
            operator_function(&function_call.func).map(|function| (function_call, function))
        }
        _ => None,
    };
    let Some((function_call, function)) = function else {
        // The optimizer folded the call (an immutable function of constants): what is
        // left is a plain expression.
        let mut expressions: Vec<ProjectionExpr> = input_schema
            .columns()
            .into_iter()
            .enumerate()
            .map(|(index, column)| ProjectionExpr {
                expr: Arc::new(PhysicalColumn::new(&column.name, index)) as _,
                alias: column.name,
            })
            .collect();
        expressions.push(ProjectionExpr {
            expr: planner.create_physical_expr(
                call.call(),
                input_schema,
                session_state,
                planning_context,
            )?,
            alias: call.output().to_string(),
        });
        return Ok(Arc::new(ProjectionExec::try_new(expressions, input)?));
    };
    let arguments = function_call
        .args
        .iter()
        .map(|argument| {
            planner.create_physical_expr(argument, input_schema, session_state, planning_context)
        })
        .collect::<Result<Vec<_>>>()?;
    let constants = InitOptions {
        constants: function_call
            .args
            .iter()
            .map(|argument| match argument {
                Expr::Literal(value, _) => Some(value.clone()),
                _ => None,
            })
            .collect(),
        threads: None,
        precision: None,
    };
    let output = call
        .schema()
        .field_with_unqualified_name(call.output())?
        .clone();
    let spec = NodeSpec {
        node: call.node().to_string(),
        function,
        arguments,
        constants,
        output,
        settings: call.settings(),
        dealt_input: call.dealt_input(),
        executors: None,
    };
    Ok(Arc::new(NodeExec::new(input, Arc::new(spec))))
}

/// Plans [`ExchangeNode`]s into [`RechunkExec`], [`ScatterExec`] and [`GatherExec`], and
/// [`NodeCallNode`]s into [`NodeExec`].
#[derive(Debug, Default)]
pub struct NodefusionExtensionPlanner;

#[async_trait]
impl ExtensionPlanner for NodefusionExtensionPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session_state: &dyn Session,
        planning_context: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let [input] = physical_inputs else {
            return internal_err!("{} takes one input", node.name());
        };
        let input = Arc::clone(input);
        if let Some(call) = node.as_any().downcast_ref::<NodeCallNode>() {
            return plan_node_call(
                planner,
                call,
                logical_inputs,
                input,
                session_state,
                planning_context,
            )
            .map(Some);
        }
        let Some(exchange) = node.as_any().downcast_ref::<ExchangeNode>() else {
            return Ok(None);
        };
        Ok(Some(match exchange.exchange() {
            Exchange::Rechunk { batch_size } => Arc::new(RechunkExec::new(input, batch_size)),
            Exchange::Scatter { partitions } => Arc::new(ScatterExec::try_new(input, partitions)?),
            Exchange::Gather => Arc::new(GatherExec::new(input)),
        }))
    }
}

/// DataFusion's query planner with nodefusion's extension planner added, and `COPY`
/// planned by [`plan_copy`].
#[derive(Debug)]
pub struct NodefusionQueryPlanner {
    stage_copies: bool,
}

impl Default for NodefusionQueryPlanner {
    /// `COPY` writes aside and puts the result in place when complete.
    fn default() -> Self {
        Self { stage_copies: true }
    }
}

impl NodefusionQueryPlanner {
    /// The planner of a cluster's scheduler: its executors, not this process, write the
    /// files of a `COPY`, so they are written in place.
    pub fn for_cluster() -> Self {
        Self {
            stage_copies: false,
        }
    }
}

#[async_trait]
impl QueryPlanner for NodefusionQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner = DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(
            NodefusionExtensionPlanner,
        )]);
        match logical_plan {
            LogicalPlan::Copy(copy) => {
                plan_copy(&planner, copy, self.stage_copies, session_state).await
            }
            _ => {
                planner
                    .create_physical_plan(logical_plan, session_state)
                    .await
            }
        }
    }
}
