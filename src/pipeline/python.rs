//! Python nodes of pipelines given as data (pipeline files): `python = "module:function"`
//! or `"path/file.py:function"`, optionally with the native function it equals (`native =
//! "normalize_text"`), which then runs instead, with no Python at all.
//!
//! The engine knows no Python: the `nodefusion` Python package, when imported, installs the
//! [`PythonFunctions`] that import a function and make it a node function
//! ([`install_python_functions`]). Without it (the `nodefusion` binary built by cargo), a
//! Python node that has no native equal is an error that says how to run it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use datafusion::logical_expr::ScalarUDF;

use crate::error::{Error, Result};
use crate::settings::NodeSettings;

/// A Python node's function: a reference to it, and the native function it equals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonBody {
    /// `module:function`, or `path/file.py:function` with a path relative to `directory`.
    pub reference: String,
    /// The registered function that computes the same, if any: it runs instead.
    pub native: Option<String>,
    /// Where a relative path of `reference` is looked up (the pipeline file's directory).
    pub directory: PathBuf,
}

/// A Python function made a node function, with what it declares of its node.
#[derive(Debug, Clone)]
pub struct PythonFunction {
    /// The node function.
    pub udf: Arc<ScalarUDF>,
    /// Its parameters' names: the columns it reads unless the node gives its inputs.
    pub parameters: Vec<String>,
    /// The output column it declares (`@nodefusion.node(output=...)`), if any.
    pub output: Option<String>,
    /// The settings it declares (`@nodefusion.node(batch_size=...)`), below the node's own.
    pub settings: NodeSettings,
}

/// What imports Python functions for the nodes that name them.
pub trait PythonFunctions: Send + Sync {
    /// The function `reference` names (`module:function`, or `path/file.py:function` with a
    /// relative path looked up in `directory`), for the node `node`; an error names the
    /// node, the module and where it was looked for.
    fn load(&self, node: &str, reference: &str, directory: &Path) -> Result<PythonFunction>;
}

static PYTHON: OnceLock<Box<dyn PythonFunctions>> = OnceLock::new();

/// Makes `functions` the process's way of importing Python nodes' functions (the
/// `nodefusion` Python package does so when imported); the first one installed stays.
pub fn install_python_functions(functions: Box<dyn PythonFunctions>) {
    let _ = PYTHON.set(functions);
}

/// The function of the Python node `node`, imported by the installed [`PythonFunctions`].
pub(crate) fn load_python(node: &str, body: &PythonBody) -> Result<PythonFunction> {
    let Some(python) = PYTHON.get() else {
        let instead = match &body.native {
            Some(native) => format!(" (its native equal '{native}' is not registered either)"),
            None => String::new(),
        };
        return Err(Error::InvalidNode {
            node: node.to_string(),
            message: format!(
                "runs the Python function '{}'{instead}, and this nodefusion has no Python: \
                 run it with the `nodefusion` command of the Python package (`pip install \
                 ./python`), or give the node a native equal (`native = \"FUNCTION\"`)",
                body.reference
            ),
        });
    };
    python.load(node, &body.reference, &body.directory)
}
