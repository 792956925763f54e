//! The analyzer rule that gives SQL the node operator: a call of a stateful or async
//! function in a projection is lifted out of it into a [`NodeCallNode`] below the
//! projection, which then reads the call's result as a column. Nested calls are lifted
//! innermost first. The session's `nodefusion.*` options set the node's batch size,
//! concurrency and error handling.

use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, Projection};
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

fn lift(plan: LogicalPlan, options: &SessionOptions) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(projection) = plan else {
        return Ok(Transformed::no(plan));
    };
    let mut calls: Vec<(Expr, String, NodeFunction)> = Vec::new();
    let mut expressions = Vec::with_capacity(projection.expr.len());
    for (index, expression) in projection.expr.iter().enumerate() {
        let rewritten = expression.clone().transform_up(|expr| {
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
        })?;
        let expression = if rewritten.transformed {
            // The projection's output keeps the name the call gave it.
            let (qualifier, field) = projection.schema.qualified_field(index);
            rewritten
                .data
                .alias_qualified(qualifier.cloned(), field.name())
        } else {
            rewritten.data
        };
        expressions.push(expression);
    }
    if calls.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Projection(projection)));
    }
    let mut input = projection.input.as_ref().clone();
    for (call, column, function) in calls {
        let settings = session_settings(options, &function);
        let node = call.schema_name().to_string();
        input = NodeCallNode::plan(input, node, call, column, settings, false)?;
    }
    let lifted = Projection::try_new(expressions, std::sync::Arc::new(input))?;
    Ok(Transformed::yes(LogicalPlan::Projection(lifted)))
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
