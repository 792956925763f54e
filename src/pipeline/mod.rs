//! The pipeline model: a [`Pipeline`] is a list of [`Node`]s wired by column name. A node
//! reads columns of the input or outputs of other nodes; the order the nodes are given in
//! does not matter. [`PipelineGraph`] resolves it against an input's columns: nested pipelines
//! flattened, inputs wired, settings final, kinds known.

mod graph;
mod node;
mod python;
mod sql_columns;

use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use nodefusion_function::calls::{Provider, Providers};
use nodefusion_model::DEFAULT_MODEL;

pub use graph::{NodeKind, PipelineGraph, ResolvedCall, ResolvedNode};
pub use node::{Node, NodeBody};
pub(crate) use python::load_python;
pub use python::{PythonBody, PythonFunction, PythonFunctions, install_python_functions};

use crate::settings::{
    NodeSettings, PipelineDefaults, SettingError, define_setting_builders, with_node_settings,
};

/// A pipeline: named nodes wired by column name. Every node setting has a builder method
/// that sets the pipeline's default for its nodes (`.batch_size(64)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) outputs: Option<Vec<String>>,
    pub(crate) defaults: PipelineDefaults,
    pub(crate) providers: Providers,
}

with_node_settings!(define_setting_builders! Pipeline, node_defaults_mut);

impl Pipeline {
    /// An empty pipeline called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            nodes: Vec::new(),
            outputs: None,
            defaults: PipelineDefaults::default(),
            providers: Providers::default(),
        }
    }

    /// Declares the remote model service `name` for the nodes' calls (`llm`,
    /// `embed_remote`); the session's provider of that name is replaced for this pipeline.
    pub fn provider(mut self, name: &str, provider: Provider) -> Self {
        self.providers.insert(name, provider);
        self
    }

    /// The providers the pipeline declares, with those of its nested pipelines beneath.
    pub fn providers(&self) -> Providers {
        let nested = self.nodes.iter().filter_map(|node| match &node.function {
            NodeBody::Pipeline(inner) => Some(inner.providers()),
            _ => None,
        });
        nested
            .fold(Providers::default(), |all, inner| all.merged(&inner))
            .merged(&self.providers)
    }

    /// Adds `node`.
    pub fn node(mut self, node: Node) -> Self {
        self.nodes.push(node);
        self
    }

    /// The columns the pipeline returns, in order; only the nodes they need are computed.
    /// Without it, every input column and every node output is returned.
    pub fn outputs<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.outputs = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// How many partitions run the nodes in parallel.
    pub fn partitions(mut self, partitions: usize) -> Self {
        self.defaults.partitions = Some(partitions);
        self
    }

    /// Sets the default of the node setting `key` for the pipeline's nodes from its text
    /// form, as `--set` and `SET` give it: for settings named at run time.
    pub fn setting(mut self, key: &str, value: &str) -> Result<Self, SettingError> {
        self.defaults.nodes.set_text(key, value)?;
        Ok(self)
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nodes, in the order they were added.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The requested output columns, if any.
    pub fn requested_outputs(&self) -> Option<&[String]> {
        self.outputs.as_deref()
    }

    /// The models the nodes need, here and in nested pipelines: a node calling a function
    /// of `ctx` that takes a `model` parameter needs the model its `model` param names, or
    /// the default model.
    pub fn models(&self, ctx: &SessionContext) -> Vec<String> {
        let mut models = Vec::new();
        for node in &self.nodes {
            match &node.function {
                NodeBody::Pipeline(inner) => models.extend(inner.models(ctx)),
                NodeBody::Named(function)
                | NodeBody::Python(PythonBody {
                    native: Some(function),
                    ..
                }) => {
                    let takes_model =
                        ctx.state()
                            .scalar_functions()
                            .get(function)
                            .is_some_and(|udf| {
                                udf.signature()
                                    .parameter_names
                                    .as_ref()
                                    .is_some_and(|names| names.iter().any(|name| name == "model"))
                            });
                    if takes_model {
                        let named = node.params.iter().find_map(|(name, value)| match value {
                            ScalarValue::Utf8(Some(model)) if name == "model" => {
                                Some(model.clone())
                            }
                            _ => None,
                        });
                        models.push(named.unwrap_or_else(|| DEFAULT_MODEL.to_string()));
                    }
                }
                NodeBody::Udf(_) | NodeBody::Sql(_) | NodeBody::Python(_) => {}
            }
        }
        models.sort();
        models.dedup();
        models
    }

    /// The pipeline's defaults.
    pub fn defaults(&self) -> &PipelineDefaults {
        &self.defaults
    }

    pub(crate) fn defaults_mut(&mut self) -> &mut PipelineDefaults {
        &mut self.defaults
    }

    fn node_defaults_mut(&mut self) -> &mut NodeSettings {
        &mut self.defaults.nodes
    }
}
