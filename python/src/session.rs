//! [`NativeSession`]: a nodefusion session (every built-in function, `embed` and `llm`
//! included, and the node operator) holding the tables and Python functions registered in
//! it; `sql` plans a query into a lazy [`NativeDataFrame`].

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use nodefusion::Input;
use pyo3::prelude::*;

use crate::arrow::read_batches;
use crate::dataframe::NativeDataFrame;
use crate::errors::python_error;
use crate::python_function::PythonFunction;
use crate::runtime::wait;

/// A session.
#[pyclass(frozen, name = "Session", module = "nodefusion._native")]
pub struct NativeSession {
    ctx: SessionContext,
}

impl std::fmt::Debug for NativeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeSession")
            .field("session_id", &self.ctx.session_id())
            .finish()
    }
}

#[pymethods]
impl NativeSession {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let ctx = nodefusion::new_context().map_err(|error| python_error(py, error))?;
        Ok(Self { ctx })
    }

    /// Registers `data` (an object with `__arrow_c_stream__`) as the table `name`, in
    /// memory, its batches dealt to the session's partitions; a table of that name is
    /// replaced.
    fn register_arrow(&self, py: Python<'_>, name: &str, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let (schema, batches) = read_batches(data)?;
        let partitions = self.ctx.copied_config().target_partitions().max(1);
        let mut dealt = vec![Vec::new(); partitions.min(batches.len()).max(1)];
        let count = dealt.len();
        for (index, batch) in batches.into_iter().enumerate() {
            dealt[index % count].push(batch);
        }
        let table = MemTable::try_new(schema, dealt).map_err(|error| python_error(py, error))?;
        self.replace(py, name, Arc::new(table))
    }

    /// Registers the file, directory, glob or object store URL `location` (Parquet, CSV
    /// or JSON, by its extension) as the table `name`; a table of that name is replaced.
    fn register_path(&self, py: Python<'_>, name: &str, location: &str) -> PyResult<()> {
        let input = Input::path(location);
        let state = self.ctx.state();
        let table = wait(py, input.table(&state))?.map_err(|error| python_error(py, error))?;
        self.replace(py, name, table)
    }

    /// Makes the Python node `node` (a `nodefusion.Node`) a function of the session's SQL,
    /// under its function's name.
    fn register_function(&self, node: &Bound<'_, PyAny>) -> PyResult<()> {
        self.ctx
            .register_udf(PythonFunction::of_node(node)?.into_udf());
        Ok(())
    }

    /// Plans `query` (DDL such as `CREATE TABLE` runs at once); the rows are computed when
    /// the result is read.
    fn sql(&self, py: Python<'_>, query: &str) -> PyResult<NativeDataFrame> {
        let frame = wait(py, self.ctx.sql(query))?.map_err(|error| python_error(py, error))?;
        Ok(NativeDataFrame::new(frame))
    }

    /// The names of the session's tables.
    fn tables(&self) -> Vec<String> {
        self.ctx
            .catalog("datafusion")
            .and_then(|catalog| catalog.schema("public"))
            .map(|schema| schema.table_names())
            .unwrap_or_default()
    }
}

impl NativeSession {
    fn replace(
        &self,
        py: Python<'_>,
        name: &str,
        table: Arc<dyn datafusion::catalog::TableProvider>,
    ) -> PyResult<()> {
        self.ctx
            .deregister_table(name)
            .and_then(|_| self.ctx.register_table(name, table))
            .map(|_| ())
            .map_err(|error| python_error(py, error))
    }
}
