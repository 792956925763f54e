//! Lifting calls of stateful and async functions out of expressions into
//! [`NodeCallNode`]s below them, which then read each call's result as a column; nested
//! calls are lifted innermost first. [`LiftNodeCalls`], the analyzer rule that gives SQL
//! the node operator, does it for projections, aggregates and filters with the session's
//! settings; pipeline compilation does it for SQL-expression nodes with the node's own.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, ScalarUDF};
use datafusion::optimizer::AnalyzerRule;
use nodefusion_function::operator_function;

use super::NodeCallNode;
use crate::settings::{RunSettings, SessionOptions, resolve};

/// Lifts stateful and async function calls out of projections into node operators.
#[derive(Debug, Default)]
pub struct LiftNodeCalls;

/// The calls lifted out of expressions over one input, each with the column that
/// replaces it.
#[derive(Debug)]
pub struct LiftedCalls<'a> {
    input: &'a LogicalPlan,
    calls: Vec<(Expr, String)>,
}

impl<'a> LiftedCalls<'a> {
    /// Nothing lifted yet out of expressions over `input`.
    pub fn new(input: &'a LogicalPlan) -> Self {
        Self {
            input,
            calls: Vec::new(),
        }
    }

    /// Whether no call was lifted.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The column for `call`: the one it already got, or a new one named after it
    /// (`__node_token_count(text)`), unlike any column of the input.
    fn column_for(&mut self, call: &Expr) -> String {
        if let Some((_, column)) = self.calls.iter().find(|(lifted, _)| lifted == call) {
            return column.clone();
        }
        let base = format!("__node_{}", call.schema_name());
        let taken = |name: &str| {
            self.input.schema().has_column_with_unqualified_name(name)
                || self.calls.iter().any(|(_, column)| column == name)
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
        self.calls.push((call.clone(), column.clone()));
        column
    }

    /// Replaces the node function calls in `expression` by columns, innermost first.
    pub fn replace_calls(&mut self, expression: Expr) -> Result<Transformed<Expr>> {
        expression.transform_up(|expr| {
            let Expr::ScalarFunction(call) = &expr else {
                return Ok(Transformed::no(expr));
            };
            if operator_function(&call.func).is_none() {
                return Ok(Transformed::no(expr));
            }
            let column = self.column_for(&expr);
            Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                column,
            ))))
        })
    }

    /// The input with a [`NodeCallNode`] per lifted call, innermost first, each run with
    /// the settings `settings` gives its function and named by `node` (the call's text
    /// when `None`). `dealt_batch_size`: the batch size a pipeline segment deals its input
    /// in, if it does (a call with that batch size then knows its rows' positions).
    pub fn plan(
        self,
        node: Option<&str>,
        settings: impl Fn(&ScalarUDF) -> RunSettings,
        dealt_batch_size: Option<usize>,
    ) -> Result<LogicalPlan> {
        let mut input = self.input.clone();
        for (call, column) in self.calls {
            let Expr::ScalarFunction(function) = &call else {
                continue;
            };
            let settings = settings(&function.func);
            let name = node.map_or_else(|| call.schema_name().to_string(), str::to_string);
            let dealt_input = dealt_batch_size == Some(settings.batch_size.rows());
            input = NodeCallNode::plan(input, name, call, column, settings, dealt_input)?;
        }
        Ok(input)
    }
}

/// Lifts the node function calls of a projection, an aggregate or a filter into
/// [`NodeCallNode`]s below it. Projections and aggregates keep their output names; a filter
/// gets a projection above it that drops the lifted columns again.
fn lift(plan: LogicalPlan, session: &SessionOptions) -> Result<Transformed<LogicalPlan>> {
    let keeps_names = match &plan {
        LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_) => true,
        LogicalPlan::Filter(_) => false,
        _ => return Ok(Transformed::no(plan)),
    };
    let Ok([input]) = <[&LogicalPlan; 1]>::try_from(plan.inputs()) else {
        return Ok(Transformed::no(plan));
    };
    let mut lifted = LiftedCalls::new(input);
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
    if lifted.is_empty() {
        return Ok(Transformed::no(plan));
    }
    let input = lifted.plan(None, |udf| resolve(&[], session, Some(udf)), None)?;
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
        let session = config
            .extensions
            .get::<SessionOptions>()
            .cloned()
            .unwrap_or_default();
        plan.transform_up_with_subqueries(|plan| lift(plan, &session))
            .data()
    }

    fn name(&self) -> &str {
        "nodefusion_lift_node_calls"
    }
}
