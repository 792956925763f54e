//! The array/scalar/null dispatch every nodefusion function shares, written once: a kernel
//! sees its arguments as Arrow arrays and returns an array; [`invoke_kernel`] turns scalar
//! arguments into arrays and, when every argument was a scalar, the result back into one.

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

/// How scalar arguments reach a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarArguments {
    /// As one-row arrays that the kernel's column readers broadcast to every row (cheap: a
    /// constant query vector is not copied per row).
    Broadcast,
    /// As arrays of the batch's length, for kernels that expect equal lengths.
    Expand,
}

/// Runs `kernel(arrays, rows)` over the arguments of one call and checks that it returned
/// `rows` values; `function` names the caller in errors.
pub fn invoke_kernel(
    function: &str,
    args: ScalarFunctionArgs,
    scalars: ScalarArguments,
    kernel: impl FnOnce(&[ArrayRef], usize) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let all_scalars = args
        .args
        .iter()
        .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
    let rows = if all_scalars && !args.args.is_empty() {
        1
    } else {
        args.number_rows
    };
    let arrays = args
        .args
        .iter()
        .map(|arg| match (arg, scalars) {
            (ColumnarValue::Array(array), _) => Ok(array.clone()),
            (ColumnarValue::Scalar(scalar), ScalarArguments::Broadcast) => scalar.to_array(),
            (ColumnarValue::Scalar(scalar), ScalarArguments::Expand) => {
                scalar.to_array_of_size(rows)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let result = kernel(&arrays, rows)?;
    if result.len() != rows {
        return exec_err!(
            "{function} returned {} values for {rows} input rows",
            result.len()
        );
    }
    if all_scalars {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}
