//! The analyzer rule that gives SQL the node operator: a call of a stateful or async
//! function in a projection, an aggregate or a filter is lifted out of it into a
//! [`NodeCallNode`] below it, which then reads the call's result as a column. Nested calls are lifted
//! innermost first. The session's `nodefusion.*` options set the node's batch size,
//! concurrency and error handling.

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

/// The settings of a call of `function` under the session's options.
pub fn session_settings(options: &SessionOptions, function: &NodeFunction) -> RunSettings {
    let meta = function.meta();
    RunSettings::resolve(
        &options.for_function(meta.name()),
        meta.default_batch_size(),
        !matches!(function, NodeFunction::Stateful(_)),
    )
}

/// The calls lifted out of one plan node, each with the column that replaces it.
struct Lifted<'a> {
    input: &'a LogicalPlan,
    calls: Vec<(Expr, String, NodeFunction)>,
}

impl Lifted<'_> {
    /// The column for `call`: the one it already got, or a new one named after it
    /// (`__node_token_count(text)`), unlike any column of the input.
    fn column_for(&mut self, call: &Expr, function: NodeFunction) -> String {
        if let Some((_, column, _)) = self.calls.iter().find(|(lifted, _, _)| lifted == call) {
            return column.clone();
        }
        let base = format!("__node_{}", call.schema_name());
        let taken = |name: &str| {
            self.input.schema().has_column_with_unqualified_name(name)
                || self.calls.iter().any(|(_, column, _)| column == name)
        };
        let column = (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}_{n}")
                }
            })
            .find(|name| !taken(name))
            .unwrap_or(base);
        self.calls.push((call.clone(), column.clone(), function));
        column
    }

    /// Replaces the node function calls in `expression` by columns, innermost first.
    fn replace_calls(&mut self, expression: Expr) -> Result<Transformed<Expr>> {
        expression.transform_up(|expr| {
            let Expr::ScalarFunction(call) = &expr else {
                return Ok(Transformed::no(expr));
            };
            let Some(function) = node_function(&call.func) else {
                return Ok(Transformed::no(expr));
            };
            let column = self.column_for(&expr, function);
            Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                column,
            ))))
        })
    }
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
    let Ok([input]) = <[&LogicalPlan; 1]>::try_from(plan.inputs()) else {
        return Ok(Transformed::no(plan));
    };
    let mut lifted = Lifted {
        input,
        calls: Vec::new(),
    };
    let mut expressions = Vec::new();
    for expression in plan.expressions() {
        let (qualifier, name) = expression.qualified_name();
        let rewritten = lifted.replace_calls(expression)?;
        let renamed = rewritten.data.qualified_name() != (qualifier.clone(), name.clone());
        expressions.push(if renamed && keeps_names {
            rewritten.data.alias_qualified(qualifier, name)
        } else {
            rewritten.data
        });
    }
    if lifted.calls.is_empty() {
        return Ok(Transformed::no(plan));
    }
    let mut input = input.clone();
    for (call, column, function) in lifted.calls {
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
