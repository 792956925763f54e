//! [`Runner`]: the Python side of a node's instance, made by `Node.make_runner(options)`
//! (`nodefusion/_runner.py`): called once per batch with one pyarrow array per argument,
//! it returns the values and the rows that failed, or the failure of the whole batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use datafusion::arrow::array::{Array, ArrayData, ArrayRef, make_array};
use datafusion::common::{DataFusionError, Result};
use nodefusion_function::{Computed, IsolationOptions, RowFailure};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::exception_text;

/// The runner's view of its instance's cancel flag: true once the run is cancelled.
#[derive(Debug)]
#[pyclass(frozen)]
pub struct CancelFlag(Arc<AtomicBool>);

#[pymethods]
impl CancelFlag {
    fn __bool__(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A node's runner, built on the thread that calls it.
pub struct Runner {
    runner: Py<PyAny>,
}

/// A Python exception of the runner's own (not of the node's function, whose exceptions
/// the runner reports as failures) as an error.
fn failed(py: Python<'_>, error: &PyErr) -> DataFusionError {
    DataFusionError::Execution(exception_text(py, error))
}

impl Runner {
    /// The runner of `node` (a `nodefusion.Node`) for an instance with the settings
    /// `isolation`; `cancel`, once true, stops it between rows.
    pub fn new(
        py: Python<'_>,
        node: &Py<PyAny>,
        isolation: &IsolationOptions,
        cancel: Arc<AtomicBool>,
    ) -> Result<Self> {
        let build = || -> PyResult<Py<PyAny>> {
            let options = PyDict::new(py);
            options.set_item("max_concurrency", isolation.max_concurrency)?;
            options.set_item("timeout", isolation.timeout.as_secs_f64())?;
            options.set_item("max_retries", isolation.max_retries)?;
            options.set_item("cancelled", CancelFlag(cancel))?;
            Ok(node
                .bind(py)
                .call_method1("make_runner", (options,))?
                .unbind())
        };
        let runner = build().map_err(|error| failed(py, &error))?;
        Ok(Self { runner })
    }

    /// Computes one batch.
    pub fn call(&self, py: Python<'_>, arguments: &[ArrayRef]) -> Result<Computed> {
        let arrays = arguments
            .iter()
            .map(|array| array.to_data().to_pyarrow(py))
            .collect::<PyResult<Vec<_>>>()
            .and_then(|arrays| PyList::new(py, arrays))
            .map_err(|error| failed(py, &error))?;
        let reply = self
            .runner
            .bind(py)
            .call1((arrays,))
            .map_err(|error| failed(py, &error))?;
        computed(&reply).map_err(|error| failed(py, &error))?
    }

    /// Lets the runner release what it holds (a stateful object's `close`, an event loop).
    pub fn close(&self, py: Python<'_>) {
        let _ = self.runner.bind(py).call_method0("close");
    }
}

/// A runner's reply: `(values, failures)`, the values a pyarrow array and the failures
/// `(row, message)` pairs, or `(None, message)` when the batch failed as a whole.
fn computed(reply: &Bound<'_, PyAny>) -> PyResult<Result<Computed>> {
    let (values, failures): (Bound<'_, PyAny>, Bound<'_, PyAny>) = reply.extract()?;
    if values.is_none() {
        return Ok(Err(DataFusionError::Execution(failures.extract()?)));
    }
    let values = make_array(ArrayData::from_pyarrow_bound(&values)?);
    let failures = failures
        .extract::<Vec<(usize, String)>>()?
        .into_iter()
        .map(|(row, message)| RowFailure { row, message })
        .collect();
    Ok(Ok(Computed { values, failures }))
}
