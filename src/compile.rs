//! Compiling a pipeline into DataFusion plans. The validated [`PipelineGraph`] becomes a
//! `LogicalPlan`:
//!
//! ```text
//! Projection: the requested columns
//!   Gather                        (when partitions > 1)
//!     Projection: ..., f(x) AS y  one per node, in topological order, keeping only the
//!     ...                         columns later nodes or the outputs still need; a
//!     NodeCall: g(y) AS z         stateful or async function gets a NodeCall instead
//!       Scatter: partitions=N     (when partitions > 1)
//!         Rechunk: batch_size=B   one Rechunk/Scatter/Gather segment per run of nodes
//!           TableScan: input        that share a batch size
//! ```
//!
//! That plan is type-checked by DataFusion's analyzer and planned once into a physical
//! plan, without the optimizer passes that would merge the per-node projections. A
//! [`CompiledPipeline`] then runs as often as wanted, on new input too, without planning
//! again.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::config::ConfigNonZeroUsize;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, DFSchemaRef};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions, StatisticsArgs,
    StatisticsContext, execute_stream,
};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::exec::NodeExpression;
use crate::io::Input;
use crate::pipeline::{NodeKind, Pipeline, PipelineGraph, ResolvedCall, ResolvedNode};
use crate::plan::{Exchange, ExchangeNode, LiftedCalls, NodeCallNode, NodefusionQueryPlanner};
use crate::plan_cache::{PlanCache, can_keep};
use crate::settings::{SessionOptions, resolve};
use crate::state_cache::{PlanningState, Source, StateCache};

/// The table name the input is scanned as.
const INPUT_TABLE: &str = "input";

/// The most rows per batch the scan reads (a CSV reader reserves room for a whole batch up
/// front); nodes with larger batches get them from their `Rechunk`.
const MAX_SCAN_BATCH_SIZE: usize = 1 << 20;

/// A pipeline validated against an input and planned, ready to run.
#[derive(Debug)]
pub struct CompiledPipeline {
    graph: PipelineGraph,
    input: Input,
    input_schema: SchemaRef,
    scan_projection: Vec<usize>,
    logical: LogicalPlan,
    physical: Arc<dyn ExecutionPlan>,
    operators: Vec<NodeOperators>,
    state: Arc<SessionState>,
    /// What each run is executed with, made from `state` once.
    task: Arc<TaskContext>,
}

/// The operators that compute one node: positions in the plan's chain of operators,
/// counted from the scan (0), fixed when the plan is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOperators {
    /// The node's name.
    pub node: String,
    /// Its operators: the node operator of each stateful or async call, the projection.
    pub positions: std::ops::Range<usize>,
}

impl Pipeline {
    /// Validates the pipeline against `input` and plans it, with the functions and
    /// settings of `ctx`. Nothing runs yet; every wiring, function, option and type error
    /// is found here.
    pub async fn compile(&self, ctx: &SessionContext, input: &Input) -> Result<CompiledPipeline> {
        CompiledPipeline::try_new(self, ctx, input).await
    }
}

/// A new instance of `plan` with fresh per-run state and metrics, its leaf (the scan)
/// replaced by `leaf` when given. Nothing is planned again. (DataFusion's
/// `reset_plan_states` resets every operator but cannot swap the leaf, which
/// [`CompiledPipeline::run_batches`] and [`CompiledPipeline::with_input`] need.)
fn fresh_instance(
    plan: &Arc<dyn ExecutionPlan>,
    leaf: Option<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan.children();
    if children.is_empty() {
        return match leaf {
            Some(leaf) => Ok(leaf),
            // A scan keeps per-execution state (the files left to read): reset it.
            None => Ok(Arc::clone(plan).reset_state()?),
        };
    }
    let children = children
        .into_iter()
        .map(|child| fresh_instance(child, leaf.clone()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::clone(plan).replace_children(
        children,
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
    )?)
}

/// The operators of a linear plan from its leaf up.
pub fn chain_from_leaf(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
    let mut chain = vec![Arc::clone(plan)];
    while let Some(child) = chain
        .last()
        .and_then(|last| last.children().first().copied())
    {
        chain.push(Arc::clone(child));
    }
    chain.reverse();
    chain
}

/// The session state pipelines are planned and run with: the user's functions, object
/// stores and options, a single scan partition (parallelism comes from scatter/gather),
/// nodefusion's planner, and no physical optimizer passes (they would merge the per-node
/// projections and re-order the plan); the providers `pipeline` declares added to the
/// session's. Made once per context state `source` ([`StateCache`]).
fn pipeline_state(context: &SessionState, source: &Source, pipeline: &Pipeline) -> PlanningState {
    let state = StateCache::shared().get_or_make(source, || planning_state(context));
    let declared = pipeline.providers();
    if declared.iter().next().is_none() {
        return state;
    }
    state.changed(|state| {
        let mut options = state
            .config_options()
            .extensions
            .get::<SessionOptions>()
            .cloned()
            .unwrap_or_default();
        options.providers = options.providers.merged(&declared);
        state.config_mut().options_mut().extensions.insert(options);
    })
}

/// [`pipeline_state`] made anew from the state of a context.
fn planning_state(context: &SessionState) -> SessionState {
    let mut config = context.config().clone();
    config.options_mut().execution.target_partitions = 1;
    SessionStateBuilder::new_from_existing(context.clone())
        .with_config(config)
        .with_query_planner(Arc::new(NodefusionQueryPlanner::default()))
        .with_physical_optimizer_rules(vec![])
        .build()
}

/// A DataFusion planning error's own message, without the error kind's prefix.
fn plan_message(error: DataFusionError) -> String {
    match error.find_root() {
        DataFusionError::Plan(message) => message.clone(),
        root => root.strip_backtrace(),
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// The expression computing `node` over a plan with `schema`.
fn node_expression(
    node: &ResolvedNode,
    schema: &DFSchemaRef,
    state: &SessionState,
) -> Result<Expr> {
    match &node.call {
        ResolvedCall::Function { udf, params } => {
            let arguments = node
                .inputs
                .iter()
                .map(|input| column(input))
                .chain(params.iter().map(|value| lit(value.clone())))
                .collect();
            Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
                Arc::clone(udf),
                arguments,
            )))
        }
        ResolvedCall::Sql {
            expression,
            columns,
        } => {
            let invalid = |message: String| Error::InvalidNode {
                node: node.path.clone(),
                message: format!("SQL expression '{expression}': {message}"),
            };
            // The expression sees the columns by the names it uses for them.
            let fields = columns
                .iter()
                .map(|(name, physical)| {
                    let field = schema.field_with_unqualified_name(physical)?;
                    Ok((None, Arc::new(field.as_ref().clone().with_name(name))))
                })
                .collect::<datafusion::common::Result<Vec<_>>>()?;
            let view = DFSchema::new_with_metadata(fields, Default::default())?;
            let parsed = state
                .create_logical_expr(expression, &view)
                .map_err(|error| invalid(plan_message(error)))?;
            let renamed = parsed.transform(|expr| {
                if let Expr::Column(found) = &expr
                    && let Some((_, physical)) =
                        columns.iter().find(|(name, _)| *name == found.name)
                {
                    return Ok(Transformed::yes(column(physical)));
                }
                Ok(Transformed::no(expr))
            })?;
            Ok(renamed.data)
        }
    }
}

/// The type error of `node`, naming its input columns and their types.
fn type_mismatch(node: &ResolvedNode, schema: &DFSchema, error: DataFusionError) -> Error {
    let inputs = node
        .inputs
        .iter()
        .map(|input| {
            let data_type = schema
                .field_with_unqualified_name(input)
                .map_or_else(|_| "?".to_string(), |field| field.data_type().to_string());
            format!("{input}: {data_type}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let function = match &node.call {
        ResolvedCall::Function { udf, .. } => udf.name().to_string(),
        ResolvedCall::Sql { .. } => "the SQL expression".to_string(),
    };
    Error::TypeMismatch {
        node: node.path.clone(),
        message: format!("{function} cannot take ({inputs}): {}", plan_message(error)),
    }
}

/// Consecutive nodes that share a batch size, as index ranges.
fn segments(nodes: &[ResolvedNode]) -> Vec<(usize, std::ops::Range<usize>)> {
    let mut segments: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let batch_size = node.settings.batch_size.rows();
        match segments.last_mut() {
            Some((size, range)) if *size == batch_size => range.end = index + 1,
            _ => segments.push((batch_size, index..index + 1)),
        }
    }
    segments
}

/// A pipeline's logical plan, with what running it needs to know about it.
struct LogicalPipeline {
    plan: LogicalPlan,
    /// The input columns it scans.
    scan_projection: Vec<usize>,
    /// The operators of each node, in topological order.
    operators: Vec<NodeOperators>,
}

/// The logical plan of `graph` over `table`.
fn logical_plan(
    graph: &PipelineGraph,
    state: &SessionState,
    session: &SessionOptions,
    table: Arc<dyn TableProvider>,
) -> Result<LogicalPipeline> {
    let schema = table.schema();
    let projection = graph
        .used_input_columns()
        .iter()
        .map(|name| schema.index_of(name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(DataFusionError::from)?;
    let mut plan = LogicalPlanBuilder::scan(
        INPUT_TABLE,
        provider_as_source(table),
        Some(projection.clone()),
    )?
    .build()?;

    // live_after[i]: the columns still needed once node i has run.
    let mut live_after = vec![BTreeSet::new(); graph.nodes.len()];
    let mut live: BTreeSet<&str> = graph.outputs.iter().map(String::as_str).collect();
    for (index, node) in graph.nodes.iter().enumerate().rev() {
        live_after[index] = live.iter().map(|name| name.to_string()).collect();
        live.extend(node.inputs.iter().map(String::as_str));
    }

    let partitions = graph.defaults.effective_partitions();
    let mut operators = Vec::with_capacity(graph.nodes.len());
    for (batch_size, range) in segments(&graph.nodes) {
        plan = ExchangeNode::plan(plan, Exchange::Rechunk { batch_size });
        if partitions > 1 {
            plan = ExchangeNode::plan(plan, Exchange::Scatter { partitions });
        }
        for index in range {
            let node = &graph.nodes[index];
            let first = chain_length(&plan);
            plan = node_plan(plan, node, &live_after[index], state, session)?;
            operators.push(NodeOperators {
                node: node.path.clone(),
                positions: first..chain_length(&plan),
            });
        }
        if partitions > 1 {
            plan = ExchangeNode::plan(plan, Exchange::Gather);
        }
    }
    let outputs = graph.outputs.iter().map(|name| column(name));
    let plan = LogicalPlanBuilder::from(plan).project(outputs)?.build()?;
    Ok(LogicalPipeline {
        plan,
        scan_projection: projection,
        operators,
    })
}

/// `plan` with `node` computed on it, keeping the columns in `live_after` (those later
/// nodes or the outputs still need). A stateful or async function gets the node operator,
/// then a projection drops what is no longer needed; any other function or SQL expression
/// is one projection, whose own stateful or async calls get node operators below it, with
/// this node's settings.
fn node_plan(
    plan: LogicalPlan,
    node: &ResolvedNode,
    live_after: &BTreeSet<String>,
    state: &SessionState,
    session: &SessionOptions,
) -> Result<LogicalPlan> {
    let schema = Arc::clone(plan.schema());
    let expression = node_expression(node, &schema, state)?;
    let live =
        |existing: &Column| live_after.contains(&existing.name) && existing.name != node.output;
    let mut expressions: Vec<Expr> = schema
        .columns()
        .into_iter()
        .filter(live)
        .map(Expr::Column)
        .collect();
    if node.kind != NodeKind::Projection {
        let plan = NodeCallNode::plan(
            plan,
            &node.path,
            expression,
            &node.output,
            node.settings,
            true,
        )
        .map_err(|error| type_mismatch(node, &schema, error))?;
        if expressions.len() + 1 == plan.schema().fields().len() {
            return Ok(plan);
        }
        expressions.push(column(&node.output));
        return Ok(LogicalPlanBuilder::from(plan)
            .project(expressions)?
            .build()?);
    }
    let mut lifted = LiftedCalls::new(&plan);
    let expression = lifted.replace_calls(expression)?.data;
    let input = lifted
        .plan(
            Some(&node.path),
            |udf| resolve(&[&node.layers], session, Some(udf)),
            Some(node.settings.batch_size.rows()),
        )
        .map_err(|error| type_mismatch(node, &schema, error))?;
    expressions.push(expression.alias(&node.output));
    LogicalPlanBuilder::from(input)
        .project(expressions)
        .and_then(LogicalPlanBuilder::build)
        .map_err(|error| type_mismatch(node, &schema, error))
}

/// `physical` with the expression of each node DataFusion computes itself (the last
/// expression of the node's projection) wrapped in a [`NodeExpression`], so that its
/// failure names the node and the row.
fn with_node_expressions(
    physical: Arc<dyn ExecutionPlan>,
    graph: &PipelineGraph,
    operators: &[NodeOperators],
) -> Result<Arc<dyn ExecutionPlan>> {
    let mut chain = chain_from_leaf(&physical);
    for (node, operators) in graph.nodes.iter().zip(operators) {
        let position = operators.positions.end.saturating_sub(1);
        let projection = chain[position].downcast_ref::<ProjectionExec>();
        let Some(projection) = projection.filter(|_| node.kind == NodeKind::Projection) else {
            continue;
        };
        let expressions: Vec<ProjectionExpr> = projection
            .expr()
            .iter()
            .map(|expression| match expression.alias == node.output {
                true => ProjectionExpr {
                    expr: Arc::new(NodeExpression::new(
                        &node.path,
                        Arc::clone(&expression.expr),
                    )),
                    alias: expression.alias.clone(),
                },
                false => expression.clone(),
            })
            .collect();
        chain[position] = Arc::new(ProjectionExec::try_new(
            expressions,
            Arc::clone(projection.input()),
        )?);
    }
    let mut plan = Arc::clone(&chain[0]);
    for operator in &chain[1..] {
        plan = Arc::clone(operator).replace_children(
            vec![plan],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
        )?;
    }
    Ok(plan)
}

/// The number of operators in a linear plan.
fn chain_length(plan: &LogicalPlan) -> usize {
    1 + plan.inputs().first().map_or(0, |input| chain_length(input))
}

/// The plans kept for pipelines over rows in memory.
static PLANS: LazyLock<PlanCache<CompiledPipeline>> = LazyLock::new(PlanCache::default);

/// How a compile starts: from the plan kept for the pipeline, or from the state of the
/// context (and what it is) to plan it with.
enum Start {
    Kept(Arc<CompiledPipeline>),
    Plan(Source, PlanningState),
}

impl CompiledPipeline {
    /// `pipeline` compiled over `input` with the functions and settings of `ctx`: the plan
    /// kept for it where there is one ([`PlanCache`]), else planned (and kept where it may).
    pub(crate) async fn try_new(
        pipeline: &Pipeline,
        ctx: &SessionContext,
        input: &Input,
    ) -> Result<Self> {
        let kept_for = input.in_memory_schema().filter(|_| can_keep(pipeline));
        // Under the context's lock (not held across an await): its state, and the kept plan
        // for it or the state to plan with.
        let start = {
            let context = ctx.state_ref();
            let context = context.read();
            let source = Source::of(&context);
            match kept_for.and_then(|schema| PLANS.get(&source, pipeline, schema)) {
                Some(kept) => Start::Kept(kept),
                None => {
                    let state = pipeline_state(&context, &source, pipeline);
                    Start::Plan(source, state)
                }
            }
        };
        let (source, state) = match start {
            Start::Kept(kept) => return kept.with_input(input).await,
            Start::Plan(source, state) => (source, state),
        };
        let compiled = Self::plan(pipeline, state, input).await?;
        if let Some(schema) = kept_for {
            let without_rows = Input::batches(Arc::clone(schema), Vec::new());
            let kept = compiled.with_input(&without_rows).await?;
            PLANS.keep(source, pipeline, schema, Arc::new(kept));
        }
        Ok(compiled)
    }

    /// `pipeline` planned over `input` with `planning`.
    async fn plan(pipeline: &Pipeline, mut planning: PlanningState, input: &Input) -> Result<Self> {
        let table = input.table(planning.state.as_ref()).await?;
        let input_schema = table.schema();
        let columns: Vec<String> = input_schema
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .collect();
        let session = planning
            .state
            .config_options()
            .extensions
            .get::<SessionOptions>()
            .cloned()
            .unwrap_or_default();
        let graph = PipelineGraph::build(pipeline, planning.state.as_ref(), &session, &columns)?;
        let scan_batch_size = graph.nodes.first().map_or_else(
            || {
                resolve(&[&pipeline.defaults().nodes], &session, None)
                    .batch_size
                    .rows()
            },
            |node| node.settings.batch_size.rows(),
        );
        let scan_batch_size = scan_batch_size.min(MAX_SCAN_BATCH_SIZE);
        if planning.state.config().batch_size() != scan_batch_size {
            let rows = ConfigNonZeroUsize::try_new(scan_batch_size)?;
            planning = planning.changed(|state| {
                state.config_mut().options_mut().execution.batch_size = rows;
            });
        }
        let PlanningState { state, task } = planning;
        let LogicalPipeline {
            plan,
            scan_projection,
            operators,
        } = logical_plan(&graph, &state, &session, table)?;
        let logical =
            state
                .analyzer()
                .execute_and_check(plan, state.config_options(), |_, _| {})?;
        let physical = state
            .query_planner()
            .create_physical_plan(&logical, state.as_ref())
            .await?;
        let (logical_length, physical_length) =
            (chain_length(&logical), chain_from_leaf(&physical).len());
        if logical_length != physical_length {
            return Err(Error::DataFusion(DataFusionError::Internal(format!(
                "the physical plan has {physical_length} operators for {logical_length} logical ones"
            ))));
        }
        let physical = with_node_expressions(physical, &graph, &operators)?;
        Ok(Self {
            graph,
            input: input.clone(),
            input_schema,
            scan_projection,
            logical,
            physical,
            operators,
            state,
            task,
        })
    }

    /// The validated, ordered and pruned graph.
    pub fn graph(&self) -> &PipelineGraph {
        &self.graph
    }

    /// The input this pipeline was compiled for.
    pub fn input(&self) -> &Input {
        &self.input
    }

    /// The schema of the input's rows.
    pub fn input_schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    /// The logical plan (type-checked).
    pub fn logical_plan(&self) -> &LogicalPlan {
        &self.logical
    }

    /// The physical plan.
    pub fn physical_plan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.physical
    }

    /// The operators of each node, in topological order.
    pub fn node_operators(&self) -> &[NodeOperators] {
        &self.operators
    }

    /// The session state the pipeline runs with.
    pub fn session_state(&self) -> &SessionState {
        &self.state
    }

    /// What a run of the pipeline is executed with.
    pub(crate) fn task_context(&self) -> Arc<TaskContext> {
        Arc::clone(&self.task)
    }

    /// A new instance of the physical plan, with fresh per-run state and metrics.
    pub fn instance(&self) -> Result<Arc<dyn ExecutionPlan>> {
        fresh_instance(&self.physical, None)
    }

    /// The schema of the rows the pipeline returns.
    pub fn output_schema(&self) -> SchemaRef {
        self.physical.schema()
    }

    /// The number of input rows, when the input's metadata tells it.
    pub fn expected_rows(&self) -> Option<usize> {
        let mut leaf = Arc::clone(&self.physical);
        while let Some(child) = leaf.children().first() {
            leaf = Arc::clone(child);
        }
        StatisticsContext::new()
            .compute(leaf.as_ref(), &StatisticsArgs::new())
            .ok()
            .and_then(|statistics| statistics.num_rows.get_value().copied())
    }

    /// Runs the pipeline and streams its rows.
    pub fn execute(&self) -> Result<SendableRecordBatchStream> {
        let plan = self.instance()?;
        Ok(execute_stream(plan, self.task_context())?)
    }

    /// Runs the pipeline and collects its rows.
    pub async fn collect(&self) -> Result<Vec<RecordBatch>> {
        let plan = self.instance()?;
        Ok(datafusion::physical_plan::collect(plan, self.task_context()).await?)
    }

    /// Runs the compiled plan on `batches` instead of its input, without planning again.
    /// The batches must have the input's schema.
    pub async fn run_batches(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        for batch in &batches {
            self.check_schema("record batches", &batch.schema())?;
        }
        let leaf = MemorySourceConfig::try_new_exec(
            &[batches],
            Arc::clone(&self.input_schema),
            Some(self.scan_projection.clone()),
        )?;
        let plan = fresh_instance(&self.physical, Some(leaf))?;
        Ok(datafusion::physical_plan::collect(plan, self.task_context()).await?)
    }

    /// This pipeline over `input`, which must have the same columns with the same types;
    /// only the scan is planned anew. Neither plan refers to the old input any more (a kept
    /// plan must not keep the rows it was first compiled over alive).
    pub async fn with_input(&self, input: &Input) -> Result<CompiledPipeline> {
        let table = input.table(self.state.as_ref()).await?;
        self.check_schema(input.location(), &table.schema())?;
        let leaf = table
            .scan(self.state.as_ref(), Some(&self.scan_projection), &[], None)
            .await?;
        let source = provider_as_source(table);
        let logical = self.logical.clone().transform_up(|node| match node {
            LogicalPlan::TableScan(mut scan) => {
                scan.source = Arc::clone(&source);
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            other => Ok(Transformed::no(other)),
        })?;
        Ok(Self {
            graph: self.graph.clone(),
            input: input.clone(),
            input_schema: Arc::clone(&self.input_schema),
            scan_projection: self.scan_projection.clone(),
            logical: logical.data,
            physical: fresh_instance(&self.physical, Some(leaf))?,
            operators: self.operators.clone(),
            state: Arc::clone(&self.state),
            task: Arc::clone(&self.task),
        })
    }

    /// Checks that `schema` has the compiled input's columns at the same positions with
    /// the same types (the plan reads columns by position).
    fn check_schema(&self, location: &str, schema: &SchemaRef) -> Result<()> {
        for &index in &self.scan_projection {
            let expected = self.input_schema.field(index);
            let problem = match schema.fields().get(index) {
                Some(found) if found.name() != expected.name() => format!(
                    "column {} is '{}', the pipeline was compiled for '{}'",
                    index + 1,
                    found.name(),
                    expected.name()
                ),
                Some(found) if found.data_type() != expected.data_type() => format!(
                    "column '{}' is {}, the pipeline was compiled for {}",
                    expected.name(),
                    found.data_type(),
                    expected.data_type()
                ),
                Some(_) => continue,
                None => format!("column '{}' is missing", expected.name()),
            };
            return Err(Error::Input {
                path: location.to_string(),
                message: problem,
            });
        }
        Ok(())
    }
}
