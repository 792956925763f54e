//! [`PythonFunction`]: a Python node's function (a `nodefusion.Node`) as an isolated node
//! function: instances on a thread of their own ([`ThreadInstance`]) or in a worker process
//! ([`ProcessInstance`]), arguments by parameter, the return type the node declares.

use std::fmt;
use std::sync::Arc;

use arrow_pyarrow::FromPyArrow;
use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};
use nodefusion_function::{
    FunctionMeta, InitOptions, IsolatedFunction, IsolatedInstance, IsolationOptions,
    OperatorFunction,
};
use pyo3::prelude::*;

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
    node: Arc<Py<PyAny>>,
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
    /// `return_type` (a pyarrow type), `is_async` and `is_class`.
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
            node: Arc::new(node.clone().unbind()),
        })
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
}

#[async_trait]
impl IsolatedFunction for PythonFunction {
    async fn init(
        &self,
        _options: &InitOptions,
        isolation: &IsolationOptions,
    ) -> Result<Box<dyn IsolatedInstance>> {
        let node = Arc::clone(&self.node);
        Ok(match isolation.process {
            true => Box::new(ProcessInstance::start(node, isolation.clone()).await?),
            false => Box::new(ThreadInstance::start(node, self.stateful, isolation.clone()).await?),
        })
    }

    fn concurrent_calls(&self) -> bool {
        self.is_async
    }

    fn origin(&self) -> String {
        format!("python {}", self.origin)
    }
}
