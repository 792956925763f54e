//! [`spread`]: a compiled pipeline's plan in the form that runs on every executor of a
//! cluster at once, with the output in the order of a local run.
//!
//! Ballista cuts a job into stages only at hash repartitions and merges, so the local form
//! (one scan, scatter, nodes, gather) would run as one task on one executor. The spread
//! form cuts the input into contiguous parts instead, each a branch of a union that runs
//! every node, and merges the parts back in input order:
//!
//! ```text
//! ProjectionExec            drops __part
//!   SortPreservingMergeExec [__part]       stage 2: one task, parts in order
//!     ProjectionExec        view types cast to plain ones (see `spread`)
//!       ProjectionExec ...  every node     stage 1: one task per part, on any executor
//!         RechunkExec
//!           UnionExec
//!             ProjectionExec: ..., k AS __part   one branch per part k
//!               DataSourceExec: the files (or byte ranges) of part k
//! ```
//!
//! Every operator's output is the compiled plan's with `__part` last, so the compiled
//! operators' column positions hold. A part's rows keep their order through the nodes, and
//! the merge takes all of part k before part k+1 (its key is constant within a part), so
//! the output order is the scan's.
//! The scheduler gives each task its own branch (a union's other branches restrict to
//! nothing), so no operator needs to know which part it runs.

use std::sync::Arc;

use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};

use super::part_writer::PartWriterExec;
use crate::compile::{NodeOperators, chain_from_leaf};
use crate::exec::{GatherExec, ScatterExec};
use crate::parts::PartsTarget;
use crate::plan::columns_to_write;

/// The column that carries a row's part through the nodes to the merge.
const PART_COLUMN: &str = "__part";

/// The operators computing one node in a plan sent to a cluster, leaf first.
#[derive(Debug, Clone)]
pub struct NodeOperatorsSent {
    /// The node's name.
    pub node: String,
    /// Its operators in the plan sent.
    pub operators: Vec<Arc<dyn ExecutionPlan>>,
}

/// A compiled pipeline's plan as sent to a cluster, with the operators computing each of
/// its nodes in it.
#[derive(Debug)]
pub struct PlanSent {
    /// The plan.
    pub plan: Arc<dyn ExecutionPlan>,
    /// Each node's operators in it, in the pipeline's order.
    pub nodes: Vec<NodeOperatorsSent>,
}

impl PlanSent {
    /// A compiled plan sent as it is, its nodes where `nodes` says (positions in its chain).
    pub fn as_compiled(plan: Arc<dyn ExecutionPlan>, nodes: &[NodeOperators]) -> Self {
        let chain = chain_from_leaf(&plan);
        let nodes = nodes
            .iter()
            .map(|node| NodeOperatorsSent {
                node: node.node.clone(),
                operators: chain.get(node.positions.clone()).unwrap_or(&[]).to_vec(),
            })
            .collect();
        Self { plan, nodes }
    }
}

/// `plan` (a compiled pipeline's, from its scan up, whose nodes `nodes` says where they
/// are) spread over at most `parts` parts of its input, merged back in input order, with
/// the operators computing each node in it; `None` when it cannot be (its input is not
/// files, or is one part, or a column is named like the part column).
pub fn spread(
    plan: &Arc<dyn ExecutionPlan>,
    parts: usize,
    nodes: &[NodeOperators],
) -> Result<Option<PlanSent>> {
    let Some(spread) = spread_parts(plan, parts)? else {
        return Ok(None);
    };
    let nodes = spread.operators_of(nodes);
    // Plain types before the stage boundary: Ballista's shuffle writes Arrow IPC, which
    // writes a sliced view array with every data buffer of the array it was sliced from, so
    // each 512-row batch of a node carried its whole parent batch's text (16x the bytes at
    // 8,192-row reads, a cost per batch). A cast copies only the slice's values.
    let current = columns_to_write(spread.plan, &[])?;
    let part = PhysicalSortExpr::new_default(Arc::new(part_column(&current)?));
    let ordering = LexOrdering::new([part])
        .ok_or_else(|| internal_datafusion_err!("an ordering by the part column"))?;
    let merged: Arc<dyn ExecutionPlan> = Arc::new(SortPreservingMergeExec::new(ordering, current));
    let width = merged.schema().fields().len() - 1;
    let without_part = columns_of(&merged, width);
    let plan = Arc::new(ProjectionExec::try_new(without_part, merged)?);
    Ok(Some(PlanSent { plan, nodes }))
}

/// `plan` (a compiled pipeline's, whose nodes `nodes` says where they are) spread over at
/// most `parts` parts of its input, each part written by the executor that runs it into
/// `target` ([`PartWriterExec`], given the rows with their part column); the job's one
/// result is a row per part. `None` as for [`spread`].
pub fn spread_writing(
    plan: &Arc<dyn ExecutionPlan>,
    parts: usize,
    target: PartsTarget,
    nodes: &[NodeOperators],
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(spread) = spread_parts(plan, parts)? else {
        return Ok(None);
    };
    let sent = spread.operators_of(nodes);
    // The part column stays, last: the writer takes its file's name from it.
    let input = columns_to_write(spread.plan, &[])?;
    let chain = chain_from_leaf(&input);
    let position = |operator: &Arc<dyn ExecutionPlan>| {
        chain
            .iter()
            .position(|found| std::ptr::addr_eq(Arc::as_ptr(found), Arc::as_ptr(operator)))
    };
    let nodes = sent
        .into_iter()
        .map(|sent| {
            let positions = sent.operators.iter().filter_map(position).collect();
            (sent.node, positions)
        })
        .collect();
    let writer = PartWriterExec::new(input, target, nodes);
    Ok(Some(Arc::new(CoalescePartitionsExec::new(Arc::new(
        writer,
    )))))
}

/// A compiled plan cut into parts of its input: the union of the parts' scans, each with
/// its part number, and above it every operator of the compiled chain with the part column
/// last.
struct Spread {
    plan: Arc<dyn ExecutionPlan>,
    /// The operator of `plan` standing for each operator of the compiled chain (none for
    /// the scan, the scatter and the gather).
    standing_for: Vec<Option<Arc<dyn ExecutionPlan>>>,
}

impl Spread {
    /// The operators standing for those of each of `nodes` (positions in the compiled
    /// chain).
    fn operators_of(&self, nodes: &[NodeOperators]) -> Vec<NodeOperatorsSent> {
        nodes
            .iter()
            .map(|node| NodeOperatorsSent {
                node: node.node.clone(),
                operators: node
                    .positions
                    .clone()
                    .filter_map(|index| self.standing_for.get(index)?.clone())
                    .collect(),
            })
            .collect()
    }
}

/// `plan` cut into at most `parts` parts of its input; `None` as for [`spread`].
fn spread_parts(plan: &Arc<dyn ExecutionPlan>, parts: usize) -> Result<Option<Spread>> {
    let chain = chain_from_leaf(plan);
    let named_part =
        |operator: &Arc<dyn ExecutionPlan>| operator.schema().field_with_name(PART_COLUMN).is_ok();
    if chain.iter().any(named_part) {
        return Ok(None);
    }
    let Some(scan) = chain
        .first()
        .and_then(|leaf| leaf.downcast_ref::<DataSourceExec>())
    else {
        return Ok(None);
    };
    let Some(files) = scan.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    let groups = contiguous_parts(files, parts)?;
    if groups.len() < 2 {
        return Ok(None);
    }
    let branches = groups
        .into_iter()
        .enumerate()
        .map(|(part, group)| {
            let mut config = files.clone();
            config.file_groups = vec![group];
            let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
            let mut expressions = columns_of(&scan, scan.schema().fields().len());
            let part = u32::try_from(part).unwrap_or(u32::MAX);
            expressions.push(ProjectionExpr {
                expr: Arc::new(Literal::new(ScalarValue::UInt32(Some(part)))),
                alias: PART_COLUMN.to_string(),
            });
            Ok(Arc::new(ProjectionExec::try_new(expressions, scan)?) as Arc<dyn ExecutionPlan>)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut current = UnionExec::try_new(branches)?;
    let mut standing_for = vec![None];
    for operator in &chain[1..] {
        if operator.is::<ScatterExec>() || operator.is::<GatherExec>() {
            standing_for.push(None);
            continue;
        }
        let replaced = match operator.downcast_ref::<ProjectionExec>() {
            Some(projection) => {
                let mut expressions = projection.expr().to_vec();
                expressions.push(part_expression(&current)?);
                Arc::new(ProjectionExec::try_new(expressions, current)?)
            }
            None => Arc::clone(operator).replace_children(
                vec![current],
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
            )?,
        };
        standing_for.push(Some(Arc::clone(&replaced)));
        current = part_last(replaced)?;
    }
    Ok(Some(Spread {
        plan: current,
        standing_for,
    }))
}

/// The files of `scan` cut into at most `parts` contiguous groups of about equal bytes
/// (byte ranges of one file where its format can be read by range), in their order.
fn contiguous_parts(scan: &FileScanConfig, parts: usize) -> Result<Vec<FileGroup>> {
    if let Some(ranges) = scan.file_source().repartitioned(parts, 0, None, scan)? {
        return Ok(ranges.file_groups);
    }
    let files: Vec<_> = scan
        .file_groups
        .iter()
        .flat_map(FileGroup::iter)
        .cloned()
        .collect();
    let per_part = files.len().div_ceil(parts.max(1)).max(1);
    Ok(files
        .chunks(per_part)
        .map(|chunk| FileGroup::new(chunk.to_vec()))
        .collect())
}

/// The first `count` columns of `plan`'s output, as a projection keeps them.
fn columns_of(plan: &Arc<dyn ExecutionPlan>, count: usize) -> Vec<ProjectionExpr> {
    plan.schema()
        .fields()
        .iter()
        .take(count)
        .enumerate()
        .map(|(index, field)| ProjectionExpr {
            expr: Arc::new(Column::new(field.name(), index)),
            alias: field.name().clone(),
        })
        .collect()
}

/// `plan` with the part column moved last where an operator added a column after it, so
/// that every other column keeps the position the compiled plan gave it.
fn part_last(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let part = part_column(&plan)?;
    let width = plan.schema().fields().len();
    if part.index() + 1 == width {
        return Ok(plan);
    }
    let mut expressions = columns_of(&plan, width);
    let moved = expressions.remove(part.index());
    expressions.push(moved);
    Ok(Arc::new(ProjectionExec::try_new(expressions, plan)?))
}

/// The part column of `plan`'s output.
fn part_column(plan: &Arc<dyn ExecutionPlan>) -> Result<Column> {
    Column::new_with_schema(PART_COLUMN, &plan.schema())
}

/// The part column of `plan`'s output, kept by a projection over it.
fn part_expression(plan: &Arc<dyn ExecutionPlan>) -> Result<ProjectionExpr> {
    Ok(ProjectionExpr {
        expr: Arc::new(part_column(plan)?),
        alias: PART_COLUMN.to_string(),
    })
}
