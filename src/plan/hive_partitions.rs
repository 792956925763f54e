//! The values a Hive-partitioned write puts in its directory names. DataFusion's writer
//! takes a NULL's slot as it is (whatever bytes or number it holds), so a NULL row would land
//! in another value's directory and read back as that value; and it cannot write some types
//! at all. Here every partition column becomes its text, NULL becomes Hive's
//! `__HIVE_DEFAULT_PARTITION__` (which Hive, Spark and pyarrow read as NULL), and the object
//! store percent-encodes what a path segment cannot hold (`/`, `%`), which readers decode.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, DFSchema, Result};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, cast, lit, when};
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

/// The directory name Hive gives a NULL partition value.
const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// `input` with each column of `partition_columns` replaced by the text of its partition
/// directory; other columns as they are. `input` itself when there are none.
pub fn hive_partition_values(
    input: Arc<dyn ExecutionPlan>,
    partition_columns: &[String],
) -> Result<Arc<dyn ExecutionPlan>> {
    if partition_columns.is_empty() {
        return Ok(input);
    }
    let schema = DFSchema::try_from(input.schema())?;
    let props = ExecutionProps::new();
    let planning = PhysicalPlanningContext::default();
    let expressions = schema
        .fields()
        .iter()
        .map(|field| {
            let column = Expr::Column(Column::from_name(field.name()));
            let value = if partition_columns.contains(field.name()) {
                when(column.clone().is_null(), lit(NULL_PARTITION))
                    .otherwise(cast(column, DataType::Utf8))?
            } else {
                column
            };
            Ok(ProjectionExpr {
                expr: create_physical_expr(&value, &schema, &props, &planning)?,
                alias: field.name().clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(ProjectionExec::try_new(expressions, input)?))
}
