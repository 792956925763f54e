//! [`Node`]: one step of a pipeline, a function wired to columns by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::ScalarUDF;
use nodefusion_function::{RowFn, UserFunction};

use super::Pipeline;
use super::python::PythonBody;
use crate::settings::{NodeSettings, SettingError, define_setting_builders, with_node_settings};

/// What a node computes.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeBody {
    /// A function registered in the session, by name (`normalize_text`, `lower`, ...).
    Named(String),
    /// A function given as a value, such as a lifted closure.
    Udf(Arc<ScalarUDF>),
    /// A SQL expression over the columns available to the node (`words < 50`).
    Sql(String),
    /// A whole pipeline used as one node.
    Pipeline(Box<Pipeline>),
    /// A Python function by reference, or the native function it equals where that is
    /// registered (pipeline files' `python` and `native`).
    Python(PythonBody),
}

/// A node of a pipeline. Besides the methods here, every node setting has a builder method
/// (`.batch_size(64)`, `.max_concurrency(4)`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub(crate) name: String,
    pub(crate) function: NodeBody,
    pub(crate) inputs: Vec<String>,
    pub(crate) output: Option<String>,
    pub(crate) params: Vec<(String, ScalarValue)>,
    pub(crate) settings: NodeSettings,
    /// For a nested pipeline: inner input column -> the outer column it reads.
    pub(crate) input_names: BTreeMap<String, String>,
    /// For a nested pipeline: inner output column -> the outer column it becomes.
    pub(crate) output_names: BTreeMap<String, String>,
}

with_node_settings!(define_setting_builders! Node, settings_mut);

impl Node {
    fn with_function(name: impl Into<String>, function: NodeBody) -> Self {
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
        Self::with_function(name, NodeBody::Named(function.into()))
    }

    /// A node calling `udf`, a function given as a value.
    pub fn udf(name: impl Into<String>, udf: impl Into<Arc<ScalarUDF>>) -> Self {
        Self::with_function(name, NodeBody::Udf(udf.into()))
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

    /// A node running the Python function `body` names, or its native equal (see
    /// [`PythonBody`]); its inputs are its function's parameters, in order.
    pub fn python(name: impl Into<String>, body: PythonBody) -> Self {
        Self::with_function(name, NodeBody::Python(body))
    }

    /// A node computing a SQL expression over the columns it can see; its inputs are the
    /// columns the expression names.
    pub fn sql(name: impl Into<String>, expression: impl Into<String>) -> Self {
        Self::with_function(name, NodeBody::Sql(expression.into()))
    }

    /// A node running the whole pipeline `pipeline`: it reads the inner pipeline's input
    /// columns and adds its outputs (all of its nodes' outputs unless it requests some).
    pub fn pipeline(name: impl Into<String>, pipeline: Pipeline) -> Self {
        Self::with_function(name, NodeBody::Pipeline(Box::new(pipeline)))
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

    /// Sets the setting `key` from its text form, as `--set` and `SET` give it
    /// (`.setting("batch_size", "64")`): for settings named at run time.
    pub fn setting(mut self, key: &str, value: &str) -> Result<Self, SettingError> {
        self.settings.set_text(key, value)?;
        Ok(self)
    }

    /// Binds the function's parameter `name` to a constant.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<ScalarValue>) -> Self {
        self.params.push((name.into(), value.into()));
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
    pub fn body(&self) -> &NodeBody {
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
