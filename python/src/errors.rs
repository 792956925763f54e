//! The exceptions the package raises ([`NodefusionError`], and [`NodeError`] for a node's
//! function failing at run time, with the node, function, row and cause as attributes), and
//! the text of a Python exception with its last frames.

use nodefusion::FailedRow;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    nodefusion,
    NodefusionError,
    PyException,
    "An error nodefusion reports: a bad pipeline, node, option, input or query; the message \
     names what to fix."
);

create_exception!(
    nodefusion,
    NodeError,
    NodefusionError,
    "A node's function failed at run time. Attributes: `node`, `function`, `row` (the input \
     row, counted from 0, or None where the input's order is not known) and `cause` (the \
     exception with its last frames)."
);

/// `error` as a Python exception: a [`NodeError`] for a node's failure, else a
/// [`NodefusionError`].
pub fn python_error(py: Python<'_>, error: impl Into<nodefusion::Error>) -> PyErr {
    let error = error.into();
    let nodefusion::Error::Node(failure) = &error else {
        return NodefusionError::new_err(error.to_string());
    };
    let exception = NodeError::new_err(error.to_string());
    let value = exception.value(py);
    let row = match failure.row {
        FailedRow::Input(row) => Some(row),
        _ => None,
    };
    let attributes = [
        value.setattr("node", &failure.node),
        value.setattr("function", &failure.function),
        value.setattr("row", row),
        value.setattr("cause", &failure.cause),
    ];
    match attributes.into_iter().find_map(Result::err) {
        Some(setting) => setting,
        None => exception,
    }
}

/// The text of a Python exception: its type and message, with its last frames.
pub fn exception_text(py: Python<'_>, error: &PyErr) -> String {
    let value = error.value(py);
    if let Some(traceback) = error.traceback(py) {
        let _ = value.setattr("__traceback__", traceback);
    }
    let formatted = py
        .import("nodefusion._runner")
        .and_then(|runner| runner.call_method1("exception_text", (value,)))
        .and_then(|text| text.extract::<String>());
    formatted.unwrap_or_else(|_| error.to_string())
}
