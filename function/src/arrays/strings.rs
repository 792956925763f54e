//! [`StringColumn`]: one reader for `Utf8`, `LargeUtf8` and `Utf8View` arrays, so that a
//! string function is written once for all three layouts.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};

/// A string array of any layout. A one-row array broadcasts: it answers every row with its
/// single value, which is how a scalar argument reaches a kernel.
#[derive(Debug, Clone, Copy)]
pub struct StringColumn<'a> {
    layout: Layout<'a>,
    broadcast: bool,
}

#[derive(Debug, Clone, Copy)]
enum Layout<'a> {
    Utf8(&'a datafusion::arrow::array::StringArray),
    LargeUtf8(&'a datafusion::arrow::array::LargeStringArray),
    Utf8View(&'a datafusion::arrow::array::StringViewArray),
}

impl<'a> StringColumn<'a> {
    /// Reads `array` as strings; `function` names the caller in the error for other types.
    pub fn try_new(function: &str, array: &'a ArrayRef) -> Result<Self> {
        let layout = match array.data_type() {
            DataType::Utf8 => Layout::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Layout::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => Layout::Utf8View(array.as_string_view()),
            other => return exec_err!("{function}: expected a string argument, got {other}"),
        };
        Ok(Self {
            layout,
            broadcast: array.len() == 1,
        })
    }

    /// The string at `row`, or `None` where the value is null.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        let row = if self.broadcast { 0 } else { row };
        self.array().is_valid(row).then(|| self.value(row))
    }

    /// Whether each of `rows` rows holds a string of its own: no nulls, no broadcast.
    pub fn is_dense(&self, rows: usize) -> bool {
        let array = self.array();
        array.len() == rows && array.null_count() == 0
    }

    /// Every string in order, for a column [`StringColumn::is_dense`] accepted.
    pub fn values(self) -> DenseStrings<'a> {
        DenseStrings {
            column: self,
            rows: 0..self.array().len(),
        }
    }

    fn array(&self) -> &'a dyn Array {
        match self.layout {
            Layout::Utf8(array) => array,
            Layout::LargeUtf8(array) => array,
            Layout::Utf8View(array) => array,
        }
    }

    /// The string at `row`, null or not (then its bytes, usually empty).
    #[inline]
    fn value(&self, row: usize) -> &'a str {
        match self.layout {
            Layout::Utf8(array) => array.value(row),
            Layout::LargeUtf8(array) => array.value(row),
            Layout::Utf8View(array) => array.value(row),
        }
    }

    /// The total number of bytes of string data, a good capacity for an output buffer.
    pub fn value_bytes(&self) -> usize {
        match self.layout {
            Layout::Utf8(array) => array.value_data().len(),
            Layout::LargeUtf8(array) => array.value_data().len(),
            Layout::Utf8View(array) => array.total_buffer_bytes_used() + array.len() * 12,
        }
    }
}

/// The strings of a column with no nulls, in order ([`StringColumn::values`]).
#[derive(Debug, Clone)]
pub struct DenseStrings<'a> {
    column: StringColumn<'a>,
    rows: std::ops::Range<usize>,
}

impl<'a> Iterator for DenseStrings<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        self.rows.next().map(|row| self.column.value(row))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.rows.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{LargeStringArray, StringArray, StringViewArray};

    use super::*;

    #[test]
    fn reads_every_string_layout_with_nulls() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            Arc::new(LargeStringArray::from(vec![Some("a"), None, Some("c")])),
            Arc::new(StringViewArray::from(vec![Some("a"), None, Some("c")])),
        ];
        for array in &arrays {
            let column = StringColumn::try_new("test", array).unwrap();
            assert_eq!(column.get(0), Some("a"));
            assert_eq!(column.get(1), None);
            assert_eq!(column.get(2), Some("c"));
        }
    }

    #[test]
    fn one_row_array_broadcasts() {
        let array: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        let column = StringColumn::try_new("test", &array).unwrap();
        assert_eq!(column.get(41), Some("x"));
    }

    #[test]
    fn non_string_array_is_an_error_naming_the_function() {
        let array: ArrayRef = Arc::new(datafusion::arrow::array::Int64Array::from(vec![1]));
        let error = StringColumn::try_new("word_count", &array).unwrap_err();
        assert!(error.to_string().contains("word_count"), "{error}");
    }
}
