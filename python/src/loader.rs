//! [`PythonImporter`]: how pipeline files' Python nodes (`python = "module:function"` or
//! `"path/file.py:function"`) are imported when the package is: `nodefusion._load` finds the
//! module and the function (a `nodefusion.Node`, or a plain function made one).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use nodefusion::settings::NodeSettings;
use nodefusion::{Error, PythonFunction, PythonFunctions};
use pyo3::prelude::*;

use crate::errors::exception_text;
use crate::python_function::PythonFunction as NodeFunction;

/// Imports Python nodes' functions in this interpreter.
#[derive(Debug)]
pub struct PythonImporter;

/// What a loaded `nodefusion.Node` declares of its node.
struct Declared {
    function: NodeFunction,
    parameters: Vec<String>,
    output: Option<String>,
    settings: BTreeMap<String, String>,
}

/// The node `reference` names, imported relative to `directory`.
fn declared(py: Python<'_>, reference: &str, directory: &Path) -> PyResult<Declared> {
    let node = py
        .import("nodefusion._load")?
        .call_method1("load_node", (reference, directory))?;
    Ok(Declared {
        function: NodeFunction::of_node(&node)?,
        parameters: node.getattr("parameters")?.extract()?,
        output: node.getattr("output")?.extract()?,
        settings: node.getattr("settings")?.extract()?,
    })
}

impl PythonFunctions for PythonImporter {
    fn load(
        &self,
        node: &str,
        reference: &str,
        directory: &Path,
    ) -> nodefusion::Result<PythonFunction> {
        let declared = Python::attach(|py| {
            declared(py, reference, directory).map_err(|error| Error::InvalidNode {
                node: node.to_string(),
                message: exception_text(py, &error),
            })
        })?;
        let mut settings = NodeSettings::default();
        for (key, value) in declared.settings {
            settings
                .set_text(&key, &value)
                .map_err(|error| Error::BadOption {
                    node: node.to_string(),
                    option: error.key,
                    message: error.message,
                })?;
        }
        Ok(PythonFunction {
            udf: Arc::new(declared.function.into_udf()),
            parameters: declared.parameters,
            output: declared.output,
            settings,
        })
    }
}
