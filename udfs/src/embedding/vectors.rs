//! What embedding functions share: the vector type, each distinct text of a batch found
//! once, and the batch's vectors assembled from the distinct texts' ones.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, FixedSizeListArray, Float32Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use nodefusion_function::arrays::StringColumn;

/// The field of a vector's values.
fn value_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::Float32, true))
}

/// The type of a vector of `dimension` values.
pub fn vector_type(dimension: usize) -> DataType {
    DataType::FixedSizeList(value_field(), dimension as i32)
}

/// The distinct texts of `rows` rows of `text` that `keep` accepts, and for every row the
/// position of its text among them (`None` for a null or a text not kept).
pub fn distinct_texts<'a>(
    text: &StringColumn<'a>,
    rows: usize,
    keep: impl Fn(&str) -> bool,
) -> (Vec<&'a str>, Vec<Option<usize>>) {
    let mut positions: HashMap<&str, usize> = HashMap::new();
    let mut distinct = Vec::new();
    let slots = (0..rows)
        .map(|row| {
            text.get(row).filter(|value| keep(value)).map(|value| {
                *positions.entry(value).or_insert_with(|| {
                    distinct.push(value);
                    distinct.len() - 1
                })
            })
        })
        .collect();
    (distinct, slots)
}

/// The vectors of every row: `vectors` holds the distinct texts' ones back to back, `slots`
/// says which each row takes (a null where none).
pub fn vector_array(
    dimension: usize,
    slots: &[Option<usize>],
    vectors: &[f32],
) -> Result<ArrayRef> {
    let mut values = Vec::with_capacity(slots.len() * dimension);
    for slot in slots {
        match slot {
            Some(index) => {
                values.extend_from_slice(&vectors[index * dimension..(index + 1) * dimension]);
            }
            None => values.resize(values.len() + dimension, 0.0),
        }
    }
    let validity = NullBuffer::from_iter(slots.iter().map(Option::is_some));
    Ok(Arc::new(FixedSizeListArray::try_new(
        value_field(),
        dimension as i32,
        Arc::new(Float32Array::from(values)),
        Some(validity),
    )?))
}
