//! [`VectorColumn`]: one reader for vectors stored as `FixedSizeList<Float32>`,
//! `List<Float32>` or `LargeList<Float32>`, and the type coercion that brings other
//! numeric lists (SQL literals such as `[1.0, 2.0]` are `List<Float64>`) to `Float32`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float32Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Float32Type};
use datafusion::common::{Result, exec_err, plan_err};

/// A column of `Float32` vectors. A one-row array broadcasts to every row, which is how a
/// constant query vector meets a column of vectors without being copied per row.
#[derive(Debug, Clone)]
pub struct VectorColumn<'a> {
    values: &'a [f32],
    element_nulls: Option<&'a NullBuffer>,
    row_nulls: Option<&'a NullBuffer>,
    offsets: Offsets<'a>,
    broadcast: bool,
}

#[derive(Debug, Clone)]
enum Offsets<'a> {
    Fixed(usize),
    Small(&'a [i32]),
    Large(&'a [i64]),
}

impl<'a> VectorColumn<'a> {
    /// Reads `array` as vectors; `function` names the caller in the error for other types.
    pub fn try_new(function: &str, array: &'a ArrayRef) -> Result<Self> {
        let (child, offsets) = match array.data_type() {
            DataType::FixedSizeList(_, size) => {
                let list = array.as_fixed_size_list();
                (list.values(), Offsets::Fixed(*size as usize))
            }
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                (list.values(), Offsets::Small(list.value_offsets()))
            }
            DataType::LargeList(_) => {
                let list = array.as_list::<i64>();
                (list.values(), Offsets::Large(list.value_offsets()))
            }
            other => {
                return exec_err!("{function}: expected a vector (a list of Float32), got {other}");
            }
        };
        let Some(values) = child.as_primitive_opt::<Float32Type>() else {
            return exec_err!(
                "{function}: expected vector elements of type Float32, got {}",
                child.data_type()
            );
        };
        let values: &'a Float32Array = values;
        Ok(Self {
            values: values.values(),
            element_nulls: values.nulls().filter(|nulls| nulls.null_count() > 0),
            row_nulls: array.nulls().filter(|nulls| nulls.null_count() > 0),
            offsets,
            broadcast: array.len() == 1,
        })
    }

    /// The vector at `row`; `None` where the row is null or one of its elements is.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a [f32]> {
        let row = if self.broadcast { 0 } else { row };
        if self.row_nulls.is_some_and(|nulls| nulls.is_null(row)) {
            return None;
        }
        let (start, end) = match self.offsets {
            Offsets::Fixed(size) => (row * size, (row + 1) * size),
            Offsets::Small(offsets) => (offsets[row] as usize, offsets[row + 1] as usize),
            Offsets::Large(offsets) => (offsets[row] as usize, offsets[row + 1] as usize),
        };
        if let Some(nulls) = self.element_nulls
            && (start..end).any(|index| nulls.is_null(index))
        {
            return None;
        }
        Some(&self.values[start..end])
    }
}

/// The type a vector argument of type `data_type` is coerced to: the same kind of list
/// with `Float32` elements. `function` names the caller in the error for other types.
pub fn coerce_vector_type(function: &str, data_type: &DataType) -> Result<DataType> {
    let float_field = |field: &Arc<Field>| -> Result<Arc<Field>> {
        if field.data_type().is_numeric() || field.data_type().is_null() {
            Ok(Arc::new(Field::new(
                field.name(),
                DataType::Float32,
                field.is_nullable(),
            )))
        } else {
            plan_err!(
                "{function}: vector elements must be numeric, got {}",
                field.data_type()
            )
        }
    };
    match data_type {
        DataType::FixedSizeList(field, size) => {
            Ok(DataType::FixedSizeList(float_field(field)?, *size))
        }
        DataType::List(field) => Ok(DataType::List(float_field(field)?)),
        DataType::LargeList(field) => Ok(DataType::LargeList(float_field(field)?)),
        DataType::Null => Ok(DataType::new_list(DataType::Float32, true)),
        other => plan_err!("{function}: expected a vector (a list of floats), got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{FixedSizeListArray, ListArray};

    use super::*;

    fn fixed(rows: Vec<Option<Vec<Option<f32>>>>, size: i32) -> ArrayRef {
        Arc::new(FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(rows, size))
    }

    #[test]
    fn reads_fixed_size_and_variable_lists() {
        let fixed = fixed(vec![Some(vec![Some(1.0), Some(2.0)]), None], 2);
        let column = VectorColumn::try_new("test", &fixed).unwrap();
        assert_eq!(column.get(0), Some(&[1.0, 2.0][..]));
        assert_eq!(column.get(1), None);

        let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0)]),
            Some(vec![Some(2.0), Some(3.0)]),
        ]));
        let column = VectorColumn::try_new("test", &list).unwrap();
        assert_eq!(column.get(1), Some(&[2.0, 3.0][..]));
    }

    #[test]
    fn a_null_element_makes_the_vector_null() {
        let array = fixed(
            vec![
                Some(vec![Some(1.0), None]),
                Some(vec![Some(1.0), Some(1.0)]),
            ],
            2,
        );
        let column = VectorColumn::try_new("test", &array).unwrap();
        assert_eq!(column.get(0), None);
        assert_eq!(column.get(1), Some(&[1.0, 1.0][..]));
    }

    #[test]
    fn coerces_numeric_lists_to_float32() {
        let list = DataType::new_list(DataType::Float64, true);
        assert_eq!(
            coerce_vector_type("f", &list).unwrap(),
            DataType::new_list(DataType::Float32, true)
        );
        let error = coerce_vector_type("cosine_similarity", &DataType::Utf8).unwrap_err();
        assert!(error.to_string().contains("cosine_similarity"), "{error}");
    }
}
