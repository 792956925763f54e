//! [`NodeExpression`]: the expression of a pipeline node that DataFusion computes itself
//! (a SQL expression, or a function without state), wrapped so that its failure names the
//! node and the row: DataFusion's own message ("Cast error: ...", "Encountered non-UTF-8
//! data at index 0") says neither. The row is found, after a failure only, by evaluating
//! the failing batch one row at a time. It is evaluated with the faster forms of its calls
//! that take several at once ([`LoweredClassReplacement`]); it shows, compares and travels
//! as planned.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::datatypes::{FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::fmt_sql;

use nodefusion_udfs::text::LoweredClassReplacement;

use crate::error::{FailedRow, NodeError};

/// A node's expression, failing with a [`NodeError`].
#[derive(Debug, Eq)]
pub struct NodeExpression {
    node: String,
    inner: Arc<dyn PhysicalExpr>,
    /// `inner` as evaluated: calls fused where they can be.
    evaluated: Arc<dyn PhysicalExpr>,
}

impl NodeExpression {
    /// `inner`, the expression of the node `node`.
    pub fn new(node: impl Into<String>, inner: Arc<dyn PhysicalExpr>) -> Self {
        let evaluated = LoweredClassReplacement::fuse_within(&inner).data;
        Self {
            node: node.into(),
            inner,
            evaluated,
        }
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The node's failure on `batch` for `error`, at the first row that fails alone.
    fn failure(&self, batch: &RecordBatch, error: DataFusionError) -> DataFusionError {
        let row = (0..batch.num_rows())
            .find(|&row| self.inner.evaluate(&batch.slice(row, 1)).is_err())
            .map_or(FailedRow::Unknown, FailedRow::OfBatch);
        NodeError {
            node: self.node.clone(),
            function: fmt_sql(self.inner.as_ref()).to_string(),
            row,
            cause: error.strip_backtrace(),
        }
        .into()
    }
}

impl PartialEq for NodeExpression {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node && self.inner.eq(&other.inner)
    }
}

impl Hash for NodeExpression {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.node.hash(state);
        self.inner.hash(state);
    }
}

impl fmt::Display for NodeExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl PhysicalExpr for NodeExpression {
    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        self.inner.return_field(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        self.evaluated
            .evaluate(batch)
            .map_err(|error| self.failure(batch, error))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.inner]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let [inner] = <[_; 1]>::try_from(children).map_err(|children| {
            DataFusionError::Internal(format!(
                "a node's expression has one child, got {}",
                children.len()
            ))
        })?;
        Ok(Arc::new(Self::new(self.node.clone(), inner)))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt_sql(f)
    }
}
