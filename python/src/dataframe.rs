//! [`NativeDataFrame`]: a query's result, lazy: planned, computed when read (or a
//! pipeline's, computed already). Read through the Arrow PyCapsule interface
//! (`__arrow_c_stream__`, streamed batch by batch), or all at once as a pyarrow table; the
//! Python class `nodefusion.DataFrame` adds the rest.

use arrow_pyarrow::{IntoPyArrow, Table};
use datafusion::arrow::array::{RecordBatch, RecordBatchIterator};
use datafusion::dataframe::DataFrame;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::arrow::{DetachedStream, stream_capsule};
use crate::errors::python_error;
use crate::runtime::wait;

/// A query's result.
#[derive(Debug)]
#[pyclass(frozen, name = "DataFrame", module = "nodefusion._native")]
pub struct NativeDataFrame {
    frame: DataFrame,
    /// The rows, when they are computed already (`frame` reads them).
    computed: Option<Vec<RecordBatch>>,
}

impl NativeDataFrame {
    /// The result `frame`, computed when read.
    pub fn new(frame: DataFrame) -> Self {
        Self {
            frame,
            computed: None,
        }
    }

    /// The rows `batches`, which `frame` reads.
    pub fn computed(frame: DataFrame, batches: Vec<RecordBatch>) -> Self {
        Self {
            frame,
            computed: Some(batches),
        }
    }
}

#[pymethods]
impl NativeDataFrame {
    /// The columns and their types, as a pyarrow schema.
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.frame.schema().as_arrow().clone().into_pyarrow(py)
    }

    /// The first `count` rows (a new lazy result).
    fn limit(&self, py: Python<'_>, count: usize) -> PyResult<Self> {
        let frame = self.frame.clone().limit(0, Some(count));
        Ok(Self::new(frame.map_err(|error| python_error(py, error))?))
    }

    /// Counts the rows.
    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        let frame = self.frame.clone();
        wait(py, frame.count())?.map_err(|error| python_error(py, error))
    }

    /// Computes every row into a pyarrow table.
    fn to_arrow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let frame = self.frame.clone();
        let schema = frame.schema().inner().clone();
        let batches = match &self.computed {
            Some(batches) => batches.clone(),
            None => wait(py, frame.collect())?.map_err(|error| python_error(py, error))?,
        };
        Table::try_new(batches, schema)
            .map_err(|error| PyValueError::new_err(error.to_string()))?
            .into_pyarrow(py)
    }

    /// The rows as an Arrow stream (the Arrow PyCapsule interface): computed as the
    /// consumer reads. `requested_schema` is not honoured (the protocol allows it).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        if let Some(batches) = &self.computed {
            let schema = self.frame.schema().inner().clone();
            let reader = RecordBatchIterator::new(batches.clone().into_iter().map(Ok), schema);
            return stream_capsule(py, Box::new(reader));
        }
        let frame = self.frame.clone();
        let stream = wait(py, frame.execute_stream())?.map_err(|error| python_error(py, error))?;
        stream_capsule(py, Box::new(DetachedStream::new(stream)))
    }

    /// The logical and physical plans, as text; with `analyze`, computed, with each
    /// operator's figures.
    #[pyo3(signature = (analyze = false))]
    fn explain(&self, py: Python<'_>, analyze: bool) -> PyResult<String> {
        let frame = self.frame.clone();
        let explained = async move {
            let plans = frame.explain(false, analyze)?.collect().await?;
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&plans)?;
            Ok::<_, datafusion::error::DataFusionError>(text.to_string())
        };
        wait(py, explained)?.map_err(|error| python_error(py, error))
    }
}
