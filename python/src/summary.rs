//! A run's summary for Python: a dict of its figures (the Python class
//! `nodefusion.Summary` reads it), with the text the command prints.

use nodefusion::RunSummary;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `summary` as a dict: `pipeline`, `rows_in`, `rows_out`, `wall_time` (seconds), `files`
/// (paths or URLs), `text`, and `nodes`, one dict per node (`node`, `rows`, `compute`,
/// `instances`, `init`, `failed_rows`, `first_failure`, `retries`; times in seconds).
pub fn summary_dict<'py>(py: Python<'py>, summary: &RunSummary) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("pipeline", &summary.pipeline)?;
    dict.set_item("rows_in", summary.rows_in)?;
    dict.set_item("rows_out", summary.rows_out)?;
    dict.set_item("wall_time", summary.wall_time.as_secs_f64())?;
    let files: Vec<String> = summary.files.iter().map(ToString::to_string).collect();
    dict.set_item("files", files)?;
    dict.set_item("text", summary.to_string())?;
    let nodes = summary
        .nodes
        .iter()
        .map(|node| {
            let entry = PyDict::new(py);
            entry.set_item("node", &node.node)?;
            entry.set_item("rows", node.rows)?;
            entry.set_item("compute", node.compute.as_secs_f64())?;
            entry.set_item("instances", node.instances_built)?;
            entry.set_item("init", node.init_time.as_secs_f64())?;
            entry.set_item("failed_rows", node.failed_rows)?;
            entry.set_item("first_failure", &node.first_failure)?;
            entry.set_item("retries", node.retries)?;
            Ok(entry)
        })
        .collect::<PyResult<Vec<_>>>()?;
    dict.set_item("nodes", nodes)?;
    Ok(dict)
}
