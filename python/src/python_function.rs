//! [`PythonFunction`]: a Python node's function (a `nodefusion.Node`) as an isolated node
//! function: instances on a thread of their own ([`ThreadInstance`]) or in a worker process
//! ([`ProcessInstance`]), kept between runs ([`KeptInstances`]), arguments by parameter,
//! the return type the node declares.

use std::fmt;
use std::sync::Arc;

use arrow_pyarrow::FromPyArrow;
use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};
use nodefusion_function::calls::Providers;
use nodefusion_function::{
    FunctionMeta, InitOptions, IsolatedFunction, IsolatedInstance, IsolationOptions,
    OperatorFunction,
};
use pyo3::prelude::*;

use crate::kept_instances::KeptInstances;
use crate::process_instance::ProcessInstance;
use crate::thread_instance::ThreadInstance;

/// A Python node's function.
pub struct PythonFunction {
    name: String,
    origin: String,
    signature: Signature,
    return_type: DataType,
    is_async: bool,
    stateful: bool,
    code_hash: String,
    node: Arc<Py<PyAny>>,
    kept: Arc<KeptInstances>,
}

impl fmt::Debug for PythonFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonFunction")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("return_type", &self.return_type)
            .finish_non_exhaustive()
    }
}

impl PythonFunction {
    /// The function of `node`, a `nodefusion.Node`: its `name`, `origin`, `parameters`,
    /// `return_type` (a pyarrow type), `is_async`, `is_class` and `code_hash`.
    pub fn of_node(node: &Bound<'_, PyAny>) -> PyResult<Self> {
        let parameters: Vec<String> = node.getattr("parameters")?.extract()?;
        let signature = Signature::any(parameters.len(), Volatility::Volatile)
            .with_parameter_names(parameters)
            .map_err(|error| pyo3::exceptions::PyValueError::new_err(error.to_string()))?;
        Ok(Self {
            name: node.getattr("name")?.extract()?,
            origin: node.getattr("origin")?.extract()?,
            signature,
            return_type: DataType::from_pyarrow_bound(&node.getattr("return_type")?)?,
            is_async: node.getattr("is_async")?.extract()?,
            stateful: node.getattr("is_class")?.extract()?,
            code_hash: node.getattr("code_hash")?.extract()?,
            node: Arc::new(node.clone().unbind()),
            kept: KeptInstances::new(),
        })
    }

    /// The instances it keeps between runs.
    pub fn kept(&self) -> Arc<KeptInstances> {
        Arc::clone(&self.kept)
    }

    /// The function as a DataFusion scalar function, which nodefusion's operator runs.
    pub fn into_udf(self) -> ScalarUDF {
        OperatorFunction::Isolated(Arc::new(self)).into_udf()
    }
}

impl FunctionMeta for PythonFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }

    /// Results kept in the cache (`cache = "readwrite"`) are the function's, of this code.
    fn cache_scope(&self, _args: &[Option<&ScalarValue>], _providers: &Providers) -> String {
        format!("python {} {}", self.origin, self.code_hash)
    }
}

#[async_trait]
impl IsolatedFunction for PythonFunction {
    async fn init(
        &self,
        _options: &InitOptions,
        isolation: &IsolationOptions,
    ) -> Result<Box<dyn IsolatedInstance>> {
        if let Some(instance) = self.kept.take(isolation) {
            return Ok(instance);
        }
        let node = Arc::clone(&self.node);
        let kept = Arc::downgrade(&self.kept);
        let isolation = isolation.clone();
        Ok(match isolation.process {
            true => Box::new(ProcessInstance::start(node, isolation, kept).await?),
            false => Box::new(ThreadInstance::start(node, self.stateful, isolation, kept).await?),
        })
    }

    fn concurrent_calls(&self) -> bool {
        self.is_async
    }

    fn origin(&self) -> String {
        format!("python {}", self.origin)
    }
}
