//! Calling a function the way DataFusion does, with its return type worked out from the
//! arguments' types: for unit tests of a function outside any query.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::Field;
use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

/// Calls `function` on `args` (arrays or scalars) for a batch of `rows` rows.
pub fn call(
    function: &dyn ScalarUDFImpl,
    args: Vec<ColumnarValue>,
    rows: usize,
) -> Result<ColumnarValue> {
    let arg_types = args.iter().map(|arg| arg.data_type()).collect::<Vec<_>>();
    let arg_fields = arg_types
        .iter()
        .map(|data_type| Arc::new(Field::new("arg", data_type.clone(), true)))
        .collect();
    let return_type = function.return_type(&arg_types)?;
    function.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: rows,
        return_field: Arc::new(Field::new("result", return_type, true)),
        config_options: Arc::new(ConfigOptions::default()),
    })
}

/// Calls `function` on columns of equal length and returns the result as an array.
pub fn call_arrays(function: &dyn ScalarUDFImpl, arrays: Vec<ArrayRef>) -> Result<ArrayRef> {
    let rows = arrays.first().map_or(1, |array| array.len());
    call(
        function,
        arrays.into_iter().map(ColumnarValue::Array).collect(),
        rows,
    )?
    .into_array(rows)
}
