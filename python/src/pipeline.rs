//! [`NativePipeline`]: a nodefusion pipeline built from Python (`nodefusion.Pipeline`'s
//! nodes, as dicts) or read from a pipeline file, run over Arrow data in memory (`map`) or
//! from its file's input into its output (`run`), or explained.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use nodefusion::config::{Overrides, load};
use nodefusion::{CompiledPipeline, Input, Node, Output, Pipeline};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::arrow::read_batches;
use crate::dataframe::NativeDataFrame;
use crate::errors::python_error;
use crate::kept_instances::{KeptInstances, wait_closed};
use crate::python_function::PythonFunction;
use crate::runtime::wait;
use crate::summary::summary_dict;

static CONTEXT: OnceLock<SessionContext> = OnceLock::new();

/// The session pipelines run in: every built-in function, made once.
fn context(py: Python<'_>) -> PyResult<&'static SessionContext> {
    if let Some(ctx) = CONTEXT.get() {
        return Ok(ctx);
    }
    let ctx = nodefusion::new_context().map_err(|error| python_error(py, error))?;
    Ok(CONTEXT.get_or_init(|| ctx))
}

/// A constant parameter from Python: a bool, int, float or str.
fn scalar(node: &str, name: &str, value: &Bound<'_, PyAny>) -> PyResult<ScalarValue> {
    if value.is_instance_of::<PyBool>() {
        return Ok(ScalarValue::Boolean(Some(value.extract()?)));
    }
    if value.is_instance_of::<PyInt>() {
        return Ok(ScalarValue::Int64(Some(value.extract()?)));
    }
    if value.is_instance_of::<PyFloat>() {
        return Ok(ScalarValue::Float64(Some(value.extract()?)));
    }
    if value.is_instance_of::<PyString>() {
        return Ok(ScalarValue::Utf8(Some(value.extract()?)));
    }
    Err(PyTypeError::new_err(format!(
        "node '{node}': param '{name}' is {}: give a bool, int, float or str",
        value.get_type().name()?
    )))
}

/// A node from its description: `kind` (`python`, with `node`, a `nodefusion.Node`;
/// `builtin`, with `function` and `params`; `sql`, with `expression`), `name`, `inputs`,
/// `output` and `settings` (text values); for a Python node, the instances its function
/// keeps between runs.
fn node_of(
    py: Python<'_>,
    spec: &Bound<'_, PyDict>,
) -> PyResult<(Node, Option<Arc<KeptInstances>>)> {
    let item = |key: &str| -> PyResult<Bound<'_, PyAny>> {
        spec.get_item(key)?
            .ok_or_else(|| PyValueError::new_err(format!("a node description without '{key}'")))
    };
    let name: String = item("name")?.extract()?;
    let kind: String = item("kind")?.extract()?;
    let mut kept = None;
    let mut node = match kind.as_str() {
        "python" => {
            let function = PythonFunction::of_node(&item("node")?)?;
            kept = Some(function.kept());
            Node::udf(&name, function.into_udf())
        }
        "builtin" => Node::function(&name, item("function")?.extract::<String>()?),
        "sql" => Node::sql(&name, item("expression")?.extract::<String>()?),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown node kind '{other}'"
            )));
        }
    };
    if let Some(inputs) = spec.get_item("inputs")?.filter(|inputs| !inputs.is_none()) {
        node = node.inputs(inputs.extract::<Vec<String>>()?);
    }
    if let Some(output) = spec.get_item("output")?.filter(|output| !output.is_none()) {
        node = node.output(output.extract::<String>()?);
    }
    if let Some(params) = spec.get_item("params")? {
        for (key, value) in params.cast::<PyDict>()?.iter() {
            let key: String = key.extract()?;
            let value = scalar(&name, &key, &value)?;
            node = node.param(key, value);
        }
    }
    let settings: Vec<(String, String)> = item("settings")?.extract()?;
    for (key, value) in settings {
        node = node.setting(&key, &value).map_err(|error| {
            python_error(
                py,
                nodefusion::Error::BadOption {
                    node: name.clone(),
                    option: error.key,
                    message: error.message,
                },
            )
        })?;
    }
    Ok((node, kept))
}

/// A pipeline, with the input and output of its file if it has one, and the instances its
/// Python nodes keep between its runs.
#[pyclass(frozen, name = "Pipeline", module = "nodefusion._native")]
pub struct NativePipeline {
    pipeline: Pipeline,
    input: Option<Input>,
    output: Option<Output>,
    file: Option<PathBuf>,
    kept: Vec<Arc<KeptInstances>>,
}

impl std::fmt::Debug for NativePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativePipeline")
            .field("pipeline", &self.pipeline)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl NativePipeline {
    /// The pipeline compiled over `data` (an object with `__arrow_c_stream__`), or over
    /// its file's input.
    fn compile(
        &self,
        py: Python<'_>,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CompiledPipeline> {
        let input = match (data, &self.input) {
            (Some(data), _) => {
                let (schema, batches) = read_batches(data)?;
                Input::batches(schema, batches)
            }
            (None, Some(input)) => input.clone(),
            (None, None) => return Err(PyValueError::new_err(self.missing("an input"))),
        };
        let ctx = context(py)?;
        wait(py, self.pipeline.compile(ctx, &input))?.map_err(|error| python_error(py, error))
    }

    /// What to say when the pipeline lacks `what`.
    fn missing(&self, what: &str) -> String {
        match &self.file {
            Some(file) => format!("{}: no {what}: give one", file.display()),
            None => format!("pipeline '{}': no {what}: give one", self.pipeline.name()),
        }
    }
}

#[pymethods]
impl NativePipeline {
    /// A pipeline of the nodes `nodes` describe, with the node settings `defaults` (text
    /// values), `partitions` and the requested `outputs`.
    #[staticmethod]
    #[pyo3(signature = (name, nodes, defaults, partitions = None, outputs = None))]
    fn of_nodes(
        py: Python<'_>,
        name: &str,
        nodes: Vec<Bound<'_, PyDict>>,
        defaults: Vec<(String, String)>,
        partitions: Option<usize>,
        outputs: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let mut pipeline = Pipeline::new(name);
        let mut kept = Vec::new();
        for spec in &nodes {
            let (node, instances) = node_of(py, spec)?;
            pipeline = pipeline.node(node);
            kept.extend(instances);
        }
        for (key, value) in defaults {
            pipeline = pipeline.setting(&key, &value).map_err(|error| {
                python_error(
                    py,
                    nodefusion::Error::Config {
                        origin: format!("pipeline '{name}'"),
                        message: error.to_string(),
                    },
                )
            })?;
        }
        if let Some(partitions) = partitions {
            pipeline = pipeline.partitions(partitions);
        }
        if let Some(outputs) = outputs {
            pipeline = pipeline.outputs(outputs);
        }
        Ok(Self {
            pipeline,
            input: None,
            output: None,
            file: None,
            kept,
        })
    }

    /// The pipeline file at `path`, with the `--set` items `set` applied.
    #[staticmethod]
    #[pyo3(signature = (path, set = Vec::new()))]
    fn from_file(py: Python<'_>, path: PathBuf, set: Vec<String>) -> PyResult<Self> {
        let overrides = Overrides {
            set,
            ..Overrides::default()
        };
        let spec = load(&path, &overrides).map_err(|error| python_error(py, error))?;
        Ok(Self {
            pipeline: spec.pipeline,
            input: spec.input,
            output: spec.output,
            file: Some(spec.file),
            kept: Vec::new(),
        })
    }

    /// Closes the instances the pipeline's Python nodes keep between runs (a stateful
    /// object's `close` runs), and waits until they are.
    fn close(&self, py: Python<'_>) {
        let closed: Vec<_> = self.kept.iter().flat_map(|kept| kept.close()).collect();
        py.detach(|| wait_closed(closed));
    }

    /// The pipeline's name.
    #[getter]
    fn name(&self) -> &str {
        self.pipeline.name()
    }

    /// Runs the pipeline over `data` (an object with `__arrow_c_stream__`): the rows, and
    /// the summary as a dict.
    fn map<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<(NativeDataFrame, Bound<'py, PyDict>)> {
        let compiled = self.compile(py, Some(data))?;
        let (batches, summary) =
            wait(py, compiled.collect_with_summary())?.map_err(|error| python_error(py, error))?;
        let ctx = context(py)?;
        let frame = MemTable::try_new(compiled.output_schema(), vec![batches.clone()])
            .and_then(|table| ctx.read_table(Arc::new(table)))
            .map_err(|error| python_error(py, error))?;
        let rows = NativeDataFrame::computed(frame, batches);
        Ok((rows, summary_dict(py, &summary)?))
    }

    /// Runs the pipeline from its file's input (or `input`, a path) into its file's output
    /// (or `output`, a Parquet path): the summary as a dict.
    #[pyo3(signature = (input = None, output = None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        input: Option<String>,
        output: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let target = match (output, &self.output) {
            (Some(path), _) => Output::parquet(path),
            (None, Some(output)) => output.clone(),
            (None, None) => return Err(PyValueError::new_err(self.missing("output"))),
        };
        let compiled = match input {
            Some(path) => {
                let ctx = context(py)?;
                wait(py, self.pipeline.compile(ctx, &Input::path(path)))?
                    .map_err(|error| python_error(py, error))?
            }
            None => self.compile(py, None)?,
        };
        let summary =
            wait(py, compiled.write(&target))?.map_err(|error| python_error(py, error))?;
        summary_dict(py, &summary)
    }

    /// The DAG and the plans the pipeline compiles into, over `data` or its file's input.
    #[pyo3(signature = (data = None))]
    fn explain(&self, py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
        let compiled = self.compile(py, data)?;
        Ok(nodefusion::explain::explain(&compiled))
    }
}
