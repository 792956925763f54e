//! [`rewritten_rows`]: a string column with every row rewritten by a kernel that appends
//! bytes, in the column's own string layout, the way DataFusion's string functions answer
//! (`Utf8` in, `Utf8` out; `LargeUtf8`, `LargeUtf8`; `Utf8View`, `Utf8View`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, GenericStringArray, OffsetSizeTrait};
use datafusion::arrow::buffer::{Buffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};

use nodefusion_function::arrays::StringColumn;

/// `text` (a string column of any layout) with each non-null row replaced by what
/// `rewrite` appends to the buffer it is given for that row (UTF-8: `rewrite` writes whole
/// characters), nulls kept, in `text`'s own layout. `function` names the caller in errors.
pub fn rewritten_rows(
    function: &str,
    text: &ArrayRef,
    rewrite: impl FnMut(&str, &mut Vec<u8>),
) -> Result<ArrayRef> {
    let column = StringColumn::try_new(function, text)?;
    match text.data_type() {
        DataType::LargeUtf8 => Ok(Arc::new(rewritten_strings::<i64>(
            function, &column, text, rewrite,
        )?)),
        DataType::Utf8 => Ok(Arc::new(rewritten_strings::<i32>(
            function, &column, text, rewrite,
        )?)),
        // Views over the rewritten values, which the cast leaves where they are.
        _ => {
            let strings = rewritten_strings::<i32>(function, &column, text, rewrite)?;
            Ok(cast(&strings, &DataType::Utf8View)?)
        }
    }
}

/// The rows of `column` (the strings of `text`) rewritten, with offsets of type `O`.
fn rewritten_strings<O: OffsetSizeTrait>(
    function: &str,
    column: &StringColumn,
    text: &ArrayRef,
    mut rewrite: impl FnMut(&str, &mut Vec<u8>),
) -> Result<GenericStringArray<O>> {
    let mut values = Vec::with_capacity(column.value_bytes());
    let mut offsets = Vec::with_capacity(text.len() + 1);
    offsets.push(O::zero());
    for row in 0..text.len() {
        if let Some(value) = column.get(row) {
            rewrite(value, &mut values);
        }
        let Some(offset) = O::from_usize(values.len()) else {
            return exec_err!(
                "{function}: the rewritten texts of one batch exceed the offsets of {}; \
                 lower the batch size",
                text.data_type()
            );
        };
        offsets.push(offset);
    }
    Ok(GenericStringArray::try_new(
        OffsetBuffer::new(offsets.into()),
        Buffer::from_vec(values),
        text.nulls().cloned(),
    )?)
}
