//! [`NodeCallNode`]: a logical plan node calling a stateful or async function once per
//! row of its input and appending the result as a column. Planned into
//! [`crate::exec::NodeExec`], so that the optimizer never duplicates, moves or merges the
//! expensive call.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::Field;
use datafusion::common::{DFSchema, DFSchemaRef, Result, internal_err};
use datafusion::logical_expr::{
    Expr, ExprSchemable, Extension, LogicalPlan, UserDefinedLogicalNodeCore,
};

use crate::settings::RunSettings;

/// `input` plus a column `output` computed by the node function call `call`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeCallNode {
    input: LogicalPlan,
    node: String,
    call: Expr,
    output: String,
    settings: RunSettings,
    dealt_input: bool,
    schema: DFSchemaRef,
}

impl NodeCallNode {
    /// The plan computing `call` (a call of a node function) as column `output` of `input`,
    /// by the node called `node`. `dealt_input` says that a pipeline segment deals the
    /// input (so row positions are known).
    pub fn plan(
        input: LogicalPlan,
        node: impl Into<String>,
        call: Expr,
        output: impl Into<String>,
        settings: RunSettings,
        dealt_input: bool,
    ) -> Result<LogicalPlan> {
        let output = output.into();
        let schema = Self::schema_of(&input, &call, &output)?;
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(Self {
                input,
                node: node.into(),
                call,
                output,
                settings,
                dealt_input,
                schema,
            }),
        }))
    }

    fn schema_of(input: &LogicalPlan, call: &Expr, output: &str) -> Result<DFSchemaRef> {
        let input_schema = input.schema();
        let data_type = call.get_type(input_schema)?;
        let mut fields: Vec<_> = input_schema
            .iter()
            .map(|(qualifier, field)| (qualifier.cloned(), Arc::clone(field)))
            .collect();
        fields.push((None, Arc::new(Field::new(output, data_type, true))));
        Ok(Arc::new(DFSchema::new_with_metadata(
            fields,
            input_schema.metadata().clone(),
        )?))
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The call.
    pub fn call(&self) -> &Expr {
        &self.call
    }

    /// The output column.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// The settings the node runs with.
    pub fn settings(&self) -> RunSettings {
        self.settings
    }

    /// Whether a pipeline segment deals the input.
    pub fn dealt_input(&self) -> bool {
        self.dealt_input
    }
}

impl PartialOrd for NodeCallNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (&self.node, &self.output, &self.settings).partial_cmp(&(
            &other.node,
            &other.output,
            &other.settings,
        ))
    }
}

impl UserDefinedLogicalNodeCore for NodeCallNode {
    fn name(&self) -> &str {
        "NodeCall"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![self.call.clone()]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "NodeCall: {}={} AS {} batch_size={} max_concurrency={}",
            self.node,
            self.call,
            self.output,
            self.settings.batch_size,
            self.settings
                .max_concurrency
                .map_or_else(|| "partitions".to_string(), |n| n.to_string())
        )
    }

    /// The input columns the node needs: those passed on that its consumer reads, and
    /// those the call reads; the optimizer prunes the rest from the scan.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let input_schema = self.input.schema();
        let mut needed: BTreeSet<usize> = output_columns
            .iter()
            .copied()
            .filter(|&index| index < input_schema.fields().len())
            .collect();
        for column in self.call.column_refs() {
            needed.insert(input_schema.index_of_column(column).ok()?);
        }
        Some(vec![needed.into_iter().collect()])
    }

    fn with_exprs_and_inputs(
        &self,
        mut exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        if exprs.len() != 1 || inputs.len() != 1 {
            return internal_err!("NodeCall takes one call and one input");
        }
        let input = inputs.swap_remove(0);
        let call = exprs.swap_remove(0);
        let schema = Self::schema_of(&input, &call, &self.output)?;
        Ok(Self {
            input,
            call,
            schema,
            ..self.clone()
        })
    }
}
