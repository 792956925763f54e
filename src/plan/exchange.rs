//! [`ExchangeNode`]: a logical plan node that changes how batches flow without changing
//! the rows: re-cut to a batch size, scattered over partitions, or gathered back in order.

use std::fmt;

use datafusion::common::{DFSchemaRef, Result, internal_err};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};

/// How an [`ExchangeNode`] changes the flow of batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum Exchange {
    /// Batches of exactly `batch_size` rows (the last may be shorter).
    Rechunk { batch_size: usize },
    /// One partition dealt round-robin by batch over `partitions`.
    Scatter { partitions: usize },
    /// All partitions taken back into one, in the order a scatter dealt them.
    Gather,
}

/// A logical node applying an [`Exchange`] to its input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct ExchangeNode {
    exchange: Exchange,
    input: LogicalPlan,
}

impl ExchangeNode {
    /// `input` with `exchange` applied, as a logical plan.
    pub fn plan(input: LogicalPlan, exchange: Exchange) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: std::sync::Arc::new(Self { exchange, input }),
        })
    }

    /// The exchange this node applies.
    pub fn exchange(&self) -> Exchange {
        self.exchange
    }
}

impl UserDefinedLogicalNodeCore for ExchangeNode {
    fn name(&self) -> &str {
        match self.exchange {
            Exchange::Rechunk { .. } => "Rechunk",
            Exchange::Scatter { .. } => "Scatter",
            Exchange::Gather => "Gather",
        }
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.exchange {
            Exchange::Rechunk { batch_size } => write!(f, "Rechunk: batch_size={batch_size}"),
            Exchange::Scatter { partitions } => write!(f, "Scatter: partitions={partitions}"),
            Exchange::Gather => write!(f, "Gather: order=round-robin"),
        }
    }

    fn with_exprs_and_inputs(
        &self,
        exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        if !exprs.is_empty() || inputs.len() != 1 {
            return internal_err!("{} takes one input and no expressions", self.name());
        }
        Ok(Self {
            exchange: self.exchange,
            input: inputs.swap_remove(0),
        })
    }
}
