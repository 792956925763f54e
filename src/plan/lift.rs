//! The analyzer rule that gives SQL the node operator: a call of a stateful or async
//! function in a projection, an aggregate or a filter is lifted out of it into a
//! [`NodeCallNode`] below it, which then reads the call's result as a column. Nested calls are lifted
//! innermost first. The session's `nodefusion.*` options set the node's batch size,
//! concurrency and error handling.

use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::AnalyzerRule;
use nodefusion_udfs::function::{NodeFunction, node_function};

use super::NodeCallNode;
use crate::settings::{RunSettings, SessionOptions};

/// Lifts stateful and async function calls out of projections into node operators.
#[derive(Debug, Default)]
pub struct LiftNodeCalls;

/// Makes the names of lifted columns unique within a session.
static LIFTED: AtomicUsize = AtomicUsize::new(0);

/// The settings of a call of `function` under the session's options.
pub fn session_settings(options: &SessionOptions, function: &NodeFunction) -> RunSettings {
    let meta = function.meta();
    RunSettings::resolve(
        &options.for_function(meta.name()),
        meta.default_batch_size(),
        !matches!(function, NodeFunction::Stateful(_)),
    )
}

/// Replaces the node function calls in `expression` by columns, innermost first, and
/// records each call with its column.
fn lift_calls(
    expression: Expr,
    calls: &mut Vec<(Expr, String, NodeFunction)>,
) -> Result<Transformed<Expr>> {
    expression.transform_up(|expr| {
        let Expr::ScalarFunction(call) = &expr else {
            return Ok(Transformed::no(expr));
        };
        let Some(function) = node_function(&call.func) else {
            return Ok(Transformed::no(expr));
        };
        let column = format!("__nodefusion_{}", LIFTED.fetch_add(1, Ordering::Relaxed));
        calls.push((expr.clone(), column.clone(), function));
        Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
            column,
        ))))
    })
}

/// Lifts the node function calls of a projection, an aggregate or a filter into
/// [`NodeCallNode`]s below it. Projections and aggregates keep their output names; a filter
/// gets a projection above it that drops the lifted columns again.
fn lift(plan: LogicalPlan, options: &SessionOptions) -> Result<Transformed<LogicalPlan>> {
    let keeps_names = match &plan {
        LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_) => true,
        LogicalPlan::Filter(_) => false,
        _ => return Ok(Transformed::no(plan)),
    };
    let mut calls: Vec<(Expr, String, NodeFunction)> = Vec::new();
    let mut expressions = Vec::new();
    for expression in plan.expressions() {
        let (qualifier, name) = expression.qualified_name();
        let rewritten = lift_calls(expression, &mut calls)?;
        expressions.push(if rewritten.transformed && keeps_names {
            rewritten.data.alias_qualified(qualifier, name)
        } else {
            rewritten.data
        });
    }
    if calls.is_empty() {
        return Ok(Transformed::no(plan));
    }
    let Ok([input]) = <[&LogicalPlan; 1]>::try_from(plan.inputs()) else {
        return Ok(Transformed::no(plan));
    };
    let mut input = input.clone();
    for (call, column, function) in calls {
        let settings = session_settings(options, &function);
        let node = call.schema_name().to_string();
        input = NodeCallNode::plan(input, node, call, column, settings, false)?;
    }
    let lifted = plan.with_new_exprs(expressions, vec![input])?;
    if keeps_names {
        return Ok(Transformed::yes(lifted));
    }
    let columns = plan.schema().columns().into_iter().map(Expr::Column);
    let restored = LogicalPlanBuilder::from(lifted).project(columns)?.build()?;
    Ok(Transformed::yes(restored))
}

impl AnalyzerRule for LiftNodeCalls {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let options = config
            .extensions
            .get::<SessionOptions>()
            .cloned()
            .unwrap_or_default();
        plan.transform_up_with_subqueries(|plan| lift(plan, &options))
            .data()
    }

    fn name(&self) -> &str {
        "nodefusion_lift_node_calls"
    }
}
