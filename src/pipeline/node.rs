//! [`Node`]: one step of a pipeline, a function wired to columns by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::ScalarUDF;
use nodefusion_udfs::function::{RowFn, UserFunction};

use super::Pipeline;
use crate::settings::{NodeSettings, OnError};

/// What a node computes.
#[derive(Debug, Clone)]
pub enum NodeFunction {
    /// A function registered in the session, by name (`normalize_text`, `lower`, ...).
    Named(String),
    /// A function given as a value, such as a lifted closure.
    Udf(Arc<ScalarUDF>),
    /// A SQL expression over the columns available to the node (`words < 50`).
    Sql(String),
    /// A whole pipeline used as one node.
    Pipeline(Box<Pipeline>),
}

/// A node of a pipeline.
#[derive(Debug, Clone)]
pub struct Node {
    pub(crate) name: String,
    pub(crate) function: NodeFunction,
    pub(crate) inputs: Vec<String>,
    pub(crate) output: Option<String>,
    pub(crate) params: Vec<(String, ScalarValue)>,
    pub(crate) settings: NodeSettings,
    /// For a nested pipeline: inner input column -> the outer column it reads.
    pub(crate) input_names: BTreeMap<String, String>,
    /// For a nested pipeline: inner output column -> the outer column it becomes.
    pub(crate) output_names: BTreeMap<String, String>,
}

impl Node {
    fn with_function(name: impl Into<String>, function: NodeFunction) -> Self {
        Self {
            name: name.into(),
            function,
            inputs: Vec::new(),
            output: None,
            params: Vec::new(),
            settings: NodeSettings::default(),
            input_names: BTreeMap::new(),
            output_names: BTreeMap::new(),
        }
    }

    /// A node calling the registered function `function`.
    pub fn function(name: impl Into<String>, function: impl Into<String>) -> Self {
        Self::with_function(name, NodeFunction::Named(function.into()))
    }

    /// A node calling `udf`, a function given as a value.
    pub fn udf(name: impl Into<String>, udf: impl Into<Arc<ScalarUDF>>) -> Self {
        Self::with_function(name, NodeFunction::Udf(udf.into()))
    }

    /// A node calling a row-wise closure, lifted into a vectorized function named after
    /// the node: `Node::row_fn("lower", |s: &str| s.to_lowercase())`.
    pub fn row_fn<M: 'static, F: RowFn<M>>(name: impl Into<String>, closure: F) -> Self {
        let name = name.into();
        let udf = UserFunction::row(name.clone(), closure).into_udf();
        Self::udf(name, udf)
    }

    /// A node calling a vectorized function over whole arrays, named after the node.
    pub fn vectorized(
        name: impl Into<String>,
        argument_types: Vec<DataType>,
        return_type: DataType,
        kernel: impl Fn(&[ArrayRef]) -> datafusion::common::Result<ArrayRef> + Send + Sync + 'static,
    ) -> Self {
        let name = name.into();
        let udf =
            UserFunction::vectorized(name.clone(), argument_types, return_type, kernel).into_udf();
        Self::udf(name, udf)
    }

    /// A node computing a SQL expression over the columns it can see; its inputs are the
    /// columns the expression names.
    pub fn sql(name: impl Into<String>, expression: impl Into<String>) -> Self {
        Self::with_function(name, NodeFunction::Sql(expression.into()))
    }

    /// A node running the whole pipeline `pipeline`: it reads the inner pipeline's input
    /// columns and adds its outputs (all of its nodes' outputs unless it requests some).
    pub fn pipeline(name: impl Into<String>, pipeline: Pipeline) -> Self {
        Self::with_function(name, NodeFunction::Pipeline(Box::new(pipeline)))
    }

    /// The input columns, in the order of the function's parameters.
    pub fn inputs<S: Into<String>>(mut self, inputs: impl IntoIterator<Item = S>) -> Self {
        self.inputs = inputs.into_iter().map(Into::into).collect();
        self
    }

    /// The output column (the node's name unless set).
    pub fn output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// Binds the function's parameter `name` to a constant.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<ScalarValue>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Rows per batch the node's function is called with.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.settings.batch_size = Some(batch_size);
        self
    }

    /// Stateful functions: the most instances alive at once across partitions; async
    /// functions: the most calls in flight.
    pub fn max_concurrency(mut self, max_concurrency: usize) -> Self {
        self.settings.max_concurrency = Some(max_concurrency);
        self
    }

    /// Stateful functions: the threads each instance computes with (by default the
    /// machine's cores shared out among the instances).
    pub fn threads(mut self, threads: usize) -> Self {
        self.settings.threads = Some(threads);
        self
    }

    /// What to do with rows the function fails on.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.settings.on_error = Some(on_error);
        self
    }

    /// Async functions: the most time one call may take.
    pub fn timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.settings.timeout_ms = Some(timeout_ms);
        self
    }

    /// Async functions: how often a failed call is tried again.
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.settings.max_retries = Some(max_retries);
        self
    }

    /// For a nested pipeline: its input column `inner` reads the outer column `outer`.
    pub fn map_input(mut self, inner: impl Into<String>, outer: impl Into<String>) -> Self {
        self.input_names.insert(inner.into(), outer.into());
        self
    }

    /// For a nested pipeline: its output column `inner` becomes the outer column `outer`.
    pub fn map_output(mut self, inner: impl Into<String>, outer: impl Into<String>) -> Self {
        self.output_names.insert(inner.into(), outer.into());
        self
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the node computes.
    pub fn node_function(&self) -> &NodeFunction {
        &self.function
    }

    /// The column this node writes (function and SQL nodes).
    pub fn output_column(&self) -> &str {
        self.output.as_deref().unwrap_or(&self.name)
    }

    /// The node's own settings (unset ones come from the pipeline's defaults).
    pub fn settings(&self) -> &NodeSettings {
        &self.settings
    }

    pub(crate) fn settings_mut(&mut self) -> &mut NodeSettings {
        &mut self.settings
    }
}
