//! The pipeline graph: nested pipelines flattened into one list of nodes, every input
//! resolved to the column that provides it, the whole checked (unknown column or function,
//! duplicate node or output, bad option, cycle), put in topological order and pruned to
//! the nodes the requested outputs need.
//!
//! Columns private to a nested pipeline get the physical name `node/column`; columns it
//! exposes get the outer name their renaming gives them.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;
use nodefusion_function::{OperatorFunction, operator_function};

use super::python::load_python;
use super::sql_columns::referenced_columns;
use super::{Node, NodeBody, Pipeline};
use crate::error::{Error, Result, did_you_mean, nearest};
use crate::settings::{NodeSettings, PipelineDefaults, RunSettings, SessionOptions, resolve};

/// What a resolved node computes.
#[derive(Debug, Clone)]
pub enum ResolvedCall {
    /// `udf(inputs..., params...)`.
    Function {
        udf: Arc<ScalarUDF>,
        params: Vec<ScalarValue>,
    },
    /// A SQL expression; `columns` maps each name it uses to the physical column.
    Sql {
        expression: String,
        columns: Vec<(String, String)>,
    },
}

/// How a node runs: as a plain expression in a projection, or in the node operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A stateless function or a SQL expression (which may itself call stateful or async
    /// functions: those get the node operator, with this node's settings).
    Projection,
    /// A stateful function: instances built once, reused for every batch.
    Stateful,
    /// An async function: calls in flight.
    Async,
}

impl NodeKind {
    /// The kind of a node computing `call`.
    fn of(call: &ResolvedCall) -> Self {
        let ResolvedCall::Function { udf, .. } = call else {
            return NodeKind::Projection;
        };
        match operator_function(udf) {
            None => NodeKind::Projection,
            Some(OperatorFunction::Stateful(_) | OperatorFunction::Isolated(_)) => {
                NodeKind::Stateful
            }
            Some(OperatorFunction::AsyncRow(_) | OperatorFunction::AsyncBatch(_)) => {
                NodeKind::Async
            }
        }
    }
}

/// A node of the graph, resolved: nested pipelines flattened, inputs wired to physical
/// columns, settings final.
#[derive(Debug, Clone)]
pub struct ResolvedNode {
    /// The node's name; `outer/inner` inside a nested pipeline.
    pub path: String,
    /// The physical column it writes.
    pub output: String,
    /// The physical columns it reads, in argument order.
    pub inputs: Vec<String>,
    /// What it computes.
    pub call: ResolvedCall,
    /// How it runs.
    pub kind: NodeKind,
    /// Its own settings over its pipelines' defaults: the layers a stateful or async call
    /// inside its SQL expression is resolved with.
    pub layers: NodeSettings,
    /// The settings it runs with, every layer applied.
    pub settings: RunSettings,
    /// For a Python node run by its native equal: the Python function it stands in for.
    pub stands_in_for: Option<String>,
}

impl ResolvedNode {
    /// A short description: `normalize_text(text)` or `sql(words < 50)`.
    pub fn describe(&self) -> String {
        match &self.call {
            ResolvedCall::Function { udf, params } => {
                let arguments = self
                    .inputs
                    .iter()
                    .cloned()
                    .chain(params.iter().map(ScalarValue::to_string))
                    .collect::<Vec<_>>();
                format!("{}({})", udf.name(), arguments.join(", "))
            }
            ResolvedCall::Sql { expression, .. } => format!("sql({expression})"),
        }
    }

    /// How it runs: `native`, `native, for python steps:normalize` (a Python node's native
    /// equal), `python steps.py:shout`, or `sql`.
    pub fn runs_as(&self) -> String {
        let ResolvedCall::Function { udf, .. } = &self.call else {
            return "sql".to_string();
        };
        match (&self.stands_in_for, operator_function(udf)) {
            (Some(python), _) => format!("native, for python {python}"),
            (None, Some(OperatorFunction::Isolated(function))) => function.origin(),
            (None, _) => "native".to_string(),
        }
    }
}

/// A validated, ordered, pruned pipeline.
#[derive(Debug, Clone)]
pub struct PipelineGraph {
    /// The pipeline's name.
    pub name: String,
    /// The input's columns.
    pub input_columns: Vec<String>,
    /// The nodes to compute, in topological order.
    pub nodes: Vec<ResolvedNode>,
    /// The nodes left out because no requested output needs them.
    pub pruned: Vec<ResolvedNode>,
    /// The columns the pipeline returns, in order.
    pub outputs: Vec<String>,
    /// The top-level pipeline's defaults.
    pub defaults: PipelineDefaults,
}

/// One pipeline level during flattening: how its names map to physical columns.
struct Level<'a> {
    prefix: String,
    parent: Option<&'a Level<'a>>,
    /// Top level: the input's columns.
    input_columns: BTreeSet<String>,
    /// Names the level's own nodes produce.
    local: BTreeSet<String>,
    /// Nested level: names it exposes to its parent, and renames both ways.
    exposed: BTreeSet<String>,
    input_names: BTreeMap<String, String>,
    output_names: BTreeMap<String, String>,
    /// Nested level: the free names its nodes read, to check the input renames.
    used_free: RefCell<BTreeSet<String>>,
}

impl Level<'_> {
    /// The physical column for the level's own output `name`.
    fn physical_output(&self, name: &str) -> String {
        match self.parent {
            None => name.to_string(),
            Some(parent) if self.exposed.contains(name) => {
                parent.physical_output(self.output_names.get(name).map_or(name, String::as_str))
            }
            Some(_) => format!("{}{name}", self.prefix),
        }
    }

    /// The physical column a node of this level reads as `name`.
    fn resolve(&self, name: &str) -> Option<String> {
        if self.local.contains(name) {
            return Some(self.physical_output(name));
        }
        match self.parent {
            None => self.input_columns.contains(name).then(|| name.to_string()),
            Some(parent) => {
                self.used_free.borrow_mut().insert(name.to_string());
                parent.resolve(self.input_names.get(name).map_or(name, String::as_str))
            }
        }
    }

    /// Every name a node of this level can read, for hints.
    fn visible(&self) -> Vec<String> {
        let mut names: Vec<String> = self.local.iter().cloned().collect();
        match self.parent {
            None => names.extend(self.input_columns.iter().cloned()),
            Some(parent) => {
                names.extend(self.input_names.keys().cloned());
                names.extend(parent.visible());
            }
        }
        names
    }

    fn resolve_input(&self, node: &str, name: &str) -> Result<String> {
        self.resolve(name).ok_or_else(|| Error::UnknownColumn {
            node: node.to_string(),
            column: name.to_string(),
            hint: nearest(name, self.visible().iter().map(String::as_str)),
        })
    }
}

/// The names `pipeline` produces, each with the node producing it, in declaration order.
fn produced(pipeline: &Pipeline) -> Vec<(String, &Node)> {
    let mut names = Vec::new();
    for node in &pipeline.nodes {
        match &node.function {
            NodeBody::Pipeline(inner) => {
                for name in exposed(inner) {
                    let outer = node.output_names.get(&name).cloned().unwrap_or(name);
                    names.push((outer, node));
                }
            }
            _ => names.push((node.output_column().to_string(), node)),
        }
    }
    names
}

/// The names a pipeline shows its parent: its requested outputs that it produces, or
/// everything it produces.
fn exposed(pipeline: &Pipeline) -> Vec<String> {
    let produced: Vec<String> = produced(pipeline)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    match &pipeline.outputs {
        Some(requested) => requested
            .iter()
            .filter(|name| produced.contains(name))
            .cloned()
            .collect(),
        None => produced,
    }
}

/// The names of a function's parameters, from its signature or its documentation.
fn parameter_names(udf: &ScalarUDF) -> Option<Vec<String>> {
    udf.signature().parameter_names.clone().or_else(|| {
        udf.documentation()
            .and_then(|doc| doc.arguments.as_ref())
            .map(|arguments| arguments.iter().map(|(name, _)| name.clone()).collect())
    })
}

/// The constant arguments that follow a node's input columns, from its named parameters.
fn bind_params(node: &Node, path: &str, udf: &ScalarUDF) -> Result<Vec<ScalarValue>> {
    let Some((first, _)) = node.params.first() else {
        return Ok(Vec::new());
    };
    let bad = |option: &str, message: String| Error::BadOption {
        node: path.to_string(),
        option: option.to_string(),
        message,
    };
    let Some(names) = parameter_names(udf) else {
        return Err(bad(
            first,
            format!("function '{}' does not name its parameters", udf.name()),
        ));
    };
    let mut slots: Vec<Option<ScalarValue>> = vec![None; names.len()];
    for (name, value) in &node.params {
        let Some(position) = names.iter().position(|candidate| candidate == name) else {
            let hint = did_you_mean(name, names.iter().map(String::as_str));
            return Err(bad(
                name,
                format!(
                    "function '{}' has no parameter '{name}'{hint}; its parameters are {}",
                    udf.name(),
                    names.join(", ")
                ),
            ));
        };
        if let Some(input) = node.inputs.get(position) {
            return Err(bad(
                name,
                format!("parameter '{name}' is already given by input column '{input}'"),
            ));
        }
        if slots[position].replace(value.clone()).is_some() {
            return Err(bad(name, format!("parameter '{name}' is given twice")));
        }
    }
    let after_inputs = &mut slots[node.inputs.len().min(names.len())..];
    let skippable =
        operator_function(udf).is_some_and(|function| function.meta().skippable_parameters());
    if skippable && let Some(last) = after_inputs.iter().rposition(Option::is_some) {
        for slot in &mut after_inputs[..last] {
            slot.get_or_insert(ScalarValue::Null);
        }
    }
    let bound = after_inputs
        .iter()
        .take_while(|slot| slot.is_some())
        .count();
    if let Some(later) = after_inputs[bound..].iter().position(Option::is_some) {
        let missing = &names[node.inputs.len() + bound];
        let later = &names[node.inputs.len() + bound + later];
        return Err(bad(
            later,
            format!("parameter '{later}' needs '{missing}' to be given too"),
        ));
    }
    Ok(after_inputs[..bound].iter().flatten().cloned().collect())
}

struct Flattener<'a> {
    registry: &'a dyn FunctionRegistry,
    session: &'a SessionOptions,
    nodes: Vec<ResolvedNode>,
}

impl Flattener<'_> {
    fn lookup_function(&self, path: &str, name: &str) -> Result<Arc<ScalarUDF>> {
        self.registry.udf(name).map_err(|_| {
            let known = self.registry.udfs();
            Error::UnknownFunction {
                node: path.to_string(),
                function: name.to_string(),
                hint: nearest(name, known.iter().map(String::as_str)),
            }
        })
    }

    fn check_level(pipeline: &Pipeline, level: &Level) -> Result<()> {
        let mut node_names = BTreeSet::new();
        for node in &pipeline.nodes {
            if !node_names.insert(node.name.as_str()) {
                return Err(Error::DuplicateNode {
                    node: format!("{}{}", level.prefix, node.name),
                });
            }
        }
        let mut producers: HashMap<String, String> = HashMap::new();
        for (name, node) in produced(pipeline) {
            let producer = format!("node '{}{}'", level.prefix, node.name);
            let clash = producers.get(&name).cloned().or_else(|| {
                let shadowed = match level.parent {
                    None => level.input_columns.contains(&name),
                    Some(_) => level.input_names.contains_key(&name),
                };
                shadowed.then(|| "the input".to_string())
            });
            if let Some(first) = clash {
                return Err(Error::DuplicateOutput {
                    column: name,
                    first,
                    second: producer,
                });
            }
            producers.insert(name, producer);
        }
        Ok(())
    }

    fn flatten(
        &mut self,
        pipeline: &Pipeline,
        level: &Level,
        defaults: &[&PipelineDefaults],
    ) -> Result<()> {
        Self::check_level(pipeline, level)?;
        for node in &pipeline.nodes {
            let path = format!("{}{}", level.prefix, node.name);
            let invalid = |message: &str| Error::InvalidNode {
                node: path.clone(),
                message: message.to_string(),
            };
            let is_nested = matches!(node.function, NodeBody::Pipeline(_));
            let renames = !node.input_names.is_empty() || !node.output_names.is_empty();
            if renames && !is_nested {
                return Err(invalid("only a pipeline node renames inputs and outputs"));
            }
            let mut stands_in_for = None;
            let mut declared = NodeSettings::default();
            let call = match &node.function {
                NodeBody::Named(name) => {
                    let udf = self.lookup_function(&path, name)?;
                    let params = bind_params(node, &path, &udf)?;
                    ResolvedCall::Function { udf, params }
                }
                NodeBody::Python(body) => {
                    let native = body
                        .native
                        .as_ref()
                        .and_then(|native| self.registry.udf(native).ok());
                    let udf = match native {
                        Some(udf) => {
                            stands_in_for = Some(body.reference.clone());
                            udf
                        }
                        None => {
                            let python = load_python(&path, body)?;
                            declared = python.settings;
                            python.udf
                        }
                    };
                    let params = bind_params(node, &path, &udf)?;
                    ResolvedCall::Function { udf, params }
                }
                NodeBody::Udf(udf) => {
                    let params = bind_params(node, &path, udf)?;
                    ResolvedCall::Function {
                        udf: Arc::clone(udf),
                        params,
                    }
                }
                NodeBody::Sql(expression) => {
                    if !node.inputs.is_empty() || !node.params.is_empty() {
                        return Err(invalid(
                            "a SQL node reads the columns its expression names; it takes no inputs or params",
                        ));
                    }
                    let names =
                        referenced_columns(expression).map_err(|message| invalid(&message))?;
                    let columns = names
                        .into_iter()
                        .map(|name| {
                            let physical = level.resolve_input(&path, &name)?;
                            Ok((name, physical))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    ResolvedCall::Sql {
                        expression: expression.clone(),
                        columns,
                    }
                }
                NodeBody::Pipeline(inner) => {
                    if !node.inputs.is_empty() || node.output.is_some() || !node.params.is_empty() {
                        return Err(invalid(
                            "a pipeline node takes no inputs, output or params; rename its columns with map_inputs and map_outputs",
                        ));
                    }
                    self.flatten_nested(node, &path, inner, level, defaults)?;
                    continue;
                }
            };
            let inputs = match &call {
                ResolvedCall::Sql { columns, .. } => columns
                    .iter()
                    .map(|(_, physical)| physical.clone())
                    .collect(),
                ResolvedCall::Function { .. } => node
                    .inputs
                    .iter()
                    .map(|name| level.resolve_input(&path, name))
                    .collect::<Result<Vec<_>>>()?,
            };
            // A Python function's own settings (its decorator's) lie under the node's.
            let own = node.settings.or(&declared);
            let layers: Vec<&NodeSettings> = std::iter::once(&own)
                .chain(defaults.iter().map(|defaults| &defaults.nodes))
                .collect();
            for layer in &layers {
                layer.check().map_err(|error| Error::BadOption {
                    node: path.clone(),
                    option: error.key,
                    message: error.message,
                })?;
            }
            let udf = match &call {
                ResolvedCall::Function { udf, .. } => Some(udf.as_ref()),
                ResolvedCall::Sql { .. } => None,
            };
            let settings = resolve(&layers, self.session, udf);
            self.nodes.push(ResolvedNode {
                output: level.physical_output(node.output_column()),
                path,
                inputs,
                kind: NodeKind::of(&call),
                layers: NodeSettings::layered(&layers),
                call,
                settings,
                stands_in_for,
            });
        }
        Ok(())
    }

    fn flatten_nested(
        &mut self,
        node: &Node,
        path: &str,
        inner: &Pipeline,
        level: &Level,
        defaults: &[&PipelineDefaults],
    ) -> Result<()> {
        let exposed: BTreeSet<String> = exposed(inner).into_iter().collect();
        let inner_level = Level {
            prefix: format!("{path}/"),
            parent: Some(level),
            input_columns: BTreeSet::new(),
            local: produced(inner).into_iter().map(|(name, _)| name).collect(),
            exposed,
            input_names: node.input_names.clone(),
            output_names: node.output_names.clone(),
            used_free: RefCell::new(BTreeSet::new()),
        };
        let bad = |option: String, message: String| Error::BadOption {
            node: path.to_string(),
            option,
            message,
        };
        for name in node.output_names.keys() {
            if !inner_level.exposed.contains(name) {
                return Err(bad(
                    format!("map_outputs.{name}"),
                    format!("the inner pipeline has no output '{name}'"),
                ));
            }
        }
        if let Some(requested) = &inner.outputs {
            for name in requested {
                if !inner_level.local.contains(name) && inner_level.resolve(name).is_none() {
                    return Err(Error::UnknownColumn {
                        node: path.to_string(),
                        column: name.clone(),
                        hint: nearest(name, inner_level.visible().iter().map(String::as_str)),
                    });
                }
            }
        }
        let mut inner_defaults = vec![&inner.defaults];
        inner_defaults.extend_from_slice(defaults);
        self.flatten(inner, &inner_level, &inner_defaults)?;
        let used = inner_level.used_free.borrow();
        for name in node.input_names.keys() {
            if !used.contains(name) {
                return Err(bad(
                    format!("map_inputs.{name}"),
                    format!("the inner pipeline reads no column '{name}'"),
                ));
            }
        }
        Ok(())
    }
}

/// The nodes in topological order (ties broken by declaration order), or the cycle that
/// prevents one.
fn topological_order(nodes: Vec<ResolvedNode>) -> Result<Vec<ResolvedNode>> {
    let producer: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| (node.output.as_str(), index))
        .collect();
    let dependencies: Vec<Vec<usize>> = nodes
        .iter()
        .map(|node| {
            node.inputs
                .iter()
                .filter_map(|input| producer.get(input.as_str()).copied())
                .collect()
        })
        .collect();
    let mut placed = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    while order.len() < nodes.len() {
        let next = (0..nodes.len())
            .find(|&index| !placed[index] && dependencies[index].iter().all(|&dep| placed[dep]));
        let Some(next) = next else {
            return Err(Error::Cycle {
                cycle: find_cycle(&nodes, &dependencies, &placed),
            });
        };
        placed[next] = true;
        order.push(next);
    }
    let mut slots: Vec<Option<ResolvedNode>> = nodes.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|index| slots[index].take())
        .collect())
}

/// A cycle among the nodes not yet placed, as node names with the first repeated last.
fn find_cycle(nodes: &[ResolvedNode], dependencies: &[Vec<usize>], placed: &[bool]) -> Vec<String> {
    let mut path: Vec<usize> = Vec::new();
    let mut current = (0..nodes.len()).find(|&index| !placed[index]).unwrap_or(0);
    while !path.contains(&current) {
        path.push(current);
        current = dependencies[current]
            .iter()
            .copied()
            .find(|&dep| !placed[dep])
            .unwrap_or(current);
    }
    let start = path.iter().position(|&index| index == current).unwrap_or(0);
    path[start..]
        .iter()
        .chain(std::iter::once(&current))
        .map(|&index| nodes[index].path.clone())
        .collect()
}

impl PipelineGraph {
    /// Flattens, checks, orders and prunes `pipeline` for an input with `input_columns`,
    /// looking functions up in `registry` and resolving settings under `session`.
    pub fn build(
        pipeline: &Pipeline,
        registry: &dyn FunctionRegistry,
        session: &SessionOptions,
        input_columns: &[String],
    ) -> Result<Self> {
        let top = Level {
            prefix: String::new(),
            parent: None,
            input_columns: input_columns.iter().cloned().collect(),
            local: produced(pipeline)
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
            exposed: BTreeSet::new(),
            input_names: BTreeMap::new(),
            output_names: BTreeMap::new(),
            used_free: RefCell::new(BTreeSet::new()),
        };
        let mut flattener = Flattener {
            registry,
            session,
            nodes: Vec::new(),
        };
        flattener.flatten(pipeline, &top, &[&pipeline.defaults])?;
        let ordered = topological_order(flattener.nodes)?;

        let outputs = match &pipeline.outputs {
            Some(requested) => {
                for name in requested {
                    if top.resolve(name).is_none() {
                        return Err(Error::UnknownOutput {
                            column: name.clone(),
                            hint: nearest(name, top.visible().iter().map(String::as_str)),
                        });
                    }
                }
                requested.clone()
            }
            None => input_columns
                .iter()
                .cloned()
                .chain(produced(pipeline).into_iter().map(|(name, _)| name))
                .collect(),
        };

        let mut needed: BTreeSet<String> = outputs.iter().cloned().collect();
        let mut kept = Vec::new();
        let mut pruned = Vec::new();
        for node in ordered.into_iter().rev() {
            if needed.contains(&node.output) {
                needed.extend(node.inputs.iter().cloned());
                kept.push(node);
            } else {
                pruned.push(node);
            }
        }
        kept.reverse();
        pruned.reverse();
        if pipeline.defaults.partitions == Some(0) {
            return Err(Error::Config {
                origin: format!("pipeline '{}'", pipeline.name),
                message: "defaults.partitions must be at least 1".into(),
            });
        }
        Ok(Self {
            name: pipeline.name.clone(),
            input_columns: input_columns.to_vec(),
            nodes: kept,
            pruned,
            outputs,
            defaults: pipeline.defaults.clone(),
        })
    }

    /// The input columns some node or output reads.
    pub fn used_input_columns(&self) -> Vec<String> {
        let read: BTreeSet<&String> = self
            .nodes
            .iter()
            .flat_map(|node| node.inputs.iter())
            .chain(self.outputs.iter())
            .collect();
        self.input_columns
            .iter()
            .filter(|column| read.contains(column))
            .cloned()
            .collect()
    }
}
