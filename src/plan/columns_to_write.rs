//! The columns a write puts in its files, as every reader takes them ([`plain_columns`] for
//! the plan a sink is made from, whose schema it writes; [`columns_to_write`] for the rows
//! it is given):
//!
//! - view types (`Utf8View`, `BinaryView`, `ListView`, which DataFusion reads Parquet
//!   strings as) become their plain types (`Utf8`, `Binary`, `List`), at any depth: the
//!   Arrow schema kept in the file says which type a reader builds, and pyarrow's
//!   `string_view` arrays cannot be sorted or taken (`array_take` has no kernel for them);
//! - in a Hive-partitioned write, the partition columns become the text of their
//!   directories. DataFusion's writer takes a NULL's slot as it is (whatever bytes or number
//!   it holds), so a NULL row would land in another value's directory and read back as that
//!   value; and it cannot write some types at all. Here every partition column becomes its
//!   text, NULL becomes Hive's `__HIVE_DEFAULT_PARTITION__` (which Hive, Spark and pyarrow
//!   read as NULL), and the object store percent-encodes what a path segment cannot hold
//!   (`/`, `%`), which readers decode.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Column, DFSchema, Result};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, lit, when};
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

/// The directory name Hive gives a NULL partition value.
const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// `input` with its columns as a write should put them (see the module's doc); `input`
/// itself when none changes.
pub fn columns_to_write(
    input: Arc<dyn ExecutionPlan>,
    partition_columns: &[String],
) -> Result<Arc<dyn ExecutionPlan>> {
    let schema = DFSchema::try_from(input.schema())?;
    let changes = schema.fields().iter().any(|field| {
        partition_columns.contains(field.name()) || plain_type(field.data_type()).is_some()
    });
    if !changes {
        return Ok(input);
    }
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
            } else if let Some(plain) = plain_type(field.data_type()) {
                cast(column, plain)
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

/// `plan` with its columns of view types cast to plain types; `plan` itself when it has
/// none.
pub fn plain_columns(plan: LogicalPlan) -> Result<LogicalPlan> {
    let schema = Arc::clone(plan.schema());
    if !schema
        .fields()
        .iter()
        .any(|field| plain_type(field.data_type()).is_some())
    {
        return Ok(plan);
    }
    let expressions = schema.iter().map(|(qualifier, field)| {
        let column = Expr::Column(Column::from((qualifier, field)));
        match plain_type(field.data_type()) {
            Some(plain) => cast(column, plain).alias(field.name()),
            None => column,
        }
    });
    LogicalPlanBuilder::from(plan).project(expressions)?.build()
}

/// `data_type` without view types, where it holds one (at any depth); `None` where it holds
/// none.
fn plain_type(data_type: &DataType) -> Option<DataType> {
    let plain_field = |field: &FieldRef| -> Option<FieldRef> {
        plain_type(field.data_type()).map(|plain| {
            Arc::new(
                Field::new(field.name(), plain, field.is_nullable())
                    .with_metadata(field.metadata().clone()),
            )
        })
    };
    match data_type {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        DataType::ListView(item) => Some(DataType::List(
            plain_field(item).unwrap_or_else(|| Arc::clone(item)),
        )),
        DataType::LargeListView(item) => Some(DataType::LargeList(
            plain_field(item).unwrap_or_else(|| Arc::clone(item)),
        )),
        DataType::List(item) => plain_field(item).map(DataType::List),
        DataType::LargeList(item) => plain_field(item).map(DataType::LargeList),
        DataType::FixedSizeList(item, size) => {
            plain_field(item).map(|item| DataType::FixedSizeList(item, *size))
        }
        DataType::Struct(fields) => {
            let plain: Vec<Option<FieldRef>> = fields.iter().map(plain_field).collect();
            plain.iter().any(Option::is_some).then(|| {
                DataType::Struct(
                    plain
                        .into_iter()
                        .zip(fields.iter())
                        .map(|(plain, field)| plain.unwrap_or_else(|| Arc::clone(field)))
                        .collect(),
                )
            })
        }
        DataType::Map(entries, sorted) => {
            plain_field(entries).map(|entries| DataType::Map(entries, *sorted))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_types_become_plain_at_any_depth_and_others_stay() {
        assert_eq!(plain_type(&DataType::Utf8View), Some(DataType::Utf8));
        assert_eq!(plain_type(&DataType::Int64), None);
        let nested = DataType::Struct(
            vec![
                Field::new("a", DataType::Int32, true),
                Field::new_list("b", Field::new_list_field(DataType::Utf8View, true), true),
            ]
            .into(),
        );
        let expected = DataType::Struct(
            vec![
                Field::new("a", DataType::Int32, true),
                Field::new_list("b", Field::new_list_field(DataType::Utf8, true), true),
            ]
            .into(),
        );
        assert_eq!(plain_type(&nested), Some(expected));
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        assert_eq!(plain_type(&list), None);
    }
}
