//! Arrow data across the boundary, by the C data interface (no copies): tables in from any
//! object with `__arrow_c_stream__` (pyarrow, polars, DuckDB, nodefusion's own results),
//! streams out as `arrow_array_stream` capsules, arrays to pyarrow with the plain types most
//! Python code expects.

use std::sync::Arc;

use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_pyarrow::FromPyArrow;
use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchReader};
use datafusion::arrow::compute::{can_cast_types, cast};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::runtime::runtime;

/// The schema and record batches of `data`, an object with `__arrow_c_stream__` (the
/// Python layer makes one of pandas frames, dicts and lists first).
pub fn read_batches(data: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    let reader = ArrowArrayStreamReader::from_pyarrow_bound(data)?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| PyValueError::new_err(format!("reading the Arrow stream: {error}")))?;
    Ok((schema, batches))
}

/// A capsule `arrow_array_stream` (the Arrow PyCapsule interface) of `reader`'s batches.
pub fn stream_capsule<'py>(
    py: Python<'py>,
    reader: Box<dyn RecordBatchReader + Send>,
) -> PyResult<Bound<'py, PyCapsule>> {
    PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), c"arrow_array_stream")
}

/// A record batch stream read by a consumer that may hold the interpreter (pyarrow,
/// polars, DuckDB): each batch is awaited detached from it, so that Python nodes of the
/// query can run meanwhile.
pub struct DetachedStream {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
}

impl DetachedStream {
    /// The batches of `stream`.
    pub fn new(stream: SendableRecordBatchStream) -> Self {
        Self {
            schema: stream.schema(),
            stream,
        }
    }
}

impl Iterator for DetachedStream {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let runtime = match runtime() {
            Ok(runtime) => runtime,
            Err(error) => return Some(Err(ArrowError::ExternalError(Box::new(error)))),
        };
        let stream = &mut self.stream;
        let next = Python::attach(|py| py.detach(|| runtime.block_on(stream.next())));
        next.map(|batch| batch.map_err(|error| ArrowError::ExternalError(Box::new(error))))
    }
}

impl RecordBatchReader for DetachedStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// The type Python code receives for `data_type`: view types as their plain types,
/// dictionary and run-end encoded values decoded, inside lists and structs too.
fn plain_type(data_type: &DataType) -> DataType {
    let plain_field = |field: &FieldRef| -> FieldRef {
        Arc::new(Field::new(
            field.name(),
            plain_type(field.data_type()),
            field.is_nullable(),
        ))
    };
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::Dictionary(_, values) => plain_type(values),
        DataType::RunEndEncoded(_, values) => plain_type(values.data_type()),
        DataType::List(field) | DataType::ListView(field) => DataType::List(plain_field(field)),
        DataType::LargeList(field) | DataType::LargeListView(field) => {
            DataType::LargeList(plain_field(field))
        }
        DataType::FixedSizeList(field, size) => DataType::FixedSizeList(plain_field(field), *size),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(plain_field).collect()),
        other => other.clone(),
    }
}

/// `array` as Python code receives it (see [`plain_type`]); as it is where Arrow cannot
/// cast it.
pub fn plain(array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let target = plain_type(array.data_type());
    if &target == array.data_type() || !can_cast_types(array.data_type(), &target) {
        return Ok(Arc::clone(array));
    }
    cast(array, &target)
}
