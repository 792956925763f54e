//! The pipeline model: a [`Pipeline`] is a list of [`Node`]s wired by column name. A node
//! reads columns of the input or outputs of other nodes; the order the nodes are given in
//! does not matter. [`Pipeline::compile`] validates the wiring against an input and turns
//! it into a DataFusion plan ([`crate::compile`]).

mod graph;
mod node;
mod sql_columns;

use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use nodefusion_udfs::models::DEFAULT_MODEL;

pub use graph::{FlatFunction, FlatNode, PipelineGraph};
pub use node::{Node, NodeFunction};

use crate::compile::CompiledPipeline;
use crate::error::Result;
use crate::io::Input;
use crate::settings::{OnError, PipelineDefaults};

/// A pipeline: named nodes wired by column name.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) outputs: Option<Vec<String>>,
    pub(crate) defaults: PipelineDefaults,
}

impl Pipeline {
    /// An empty pipeline called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            nodes: Vec::new(),
            outputs: None,
            defaults: PipelineDefaults::default(),
        }
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

    /// The default rows per batch for nodes that do not set their own.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.defaults.nodes.batch_size = Some(batch_size);
        self
    }

    /// The default instances (stateful) or calls in flight (async) per node.
    pub fn max_concurrency(mut self, max_concurrency: usize) -> Self {
        self.defaults.nodes.max_concurrency = Some(max_concurrency);
        self
    }

    /// The default for what nodes do with rows their function fails on.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.defaults.nodes.on_error = Some(on_error);
        self
    }

    /// How many partitions run the nodes in parallel.
    pub fn partitions(mut self, partitions: usize) -> Self {
        self.defaults.partitions = Some(partitions);
        self
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
                NodeFunction::Pipeline(inner) => models.extend(inner.models(ctx)),
                NodeFunction::Named(function) => {
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
                NodeFunction::Udf(_) | NodeFunction::Sql(_) => {}
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

    /// Validates the pipeline against `input` and plans it, with the functions and
    /// settings of `ctx`. Nothing runs yet; every wiring, function, option and type error
    /// is found here.
    pub async fn compile(&self, ctx: &SessionContext, input: &Input) -> Result<CompiledPipeline> {
        CompiledPipeline::try_new(self, ctx, input).await
    }
}
