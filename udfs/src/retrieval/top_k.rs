//! `top_k(passages, passage_vector, queries, query_vector, k [, passage_id [, query_id]])`:
//! for every query, the `k` passages of highest cosine similarity, exactly (a table
//! function).
//!
//! `passages` and `queries` are each a registered table or a Parquet path (file, directory or
//! glob, local or an object store URL). The result has one row per (query, rank):
//! `query_id`, `passage_id` (the id columns when given, else the row's position in its table,
//! from 0), `rank` (from 1) and `score` (the cosine similarity), ordered by query then rank.
//!
//! The queries are held in memory as one normalised matrix; the passages stream through in
//! table order, batch by batch, and each batch meets each block of queries in one matrix
//! product ([`nodefusion_model::matrix`]; blocks in parallel), whose scores go through a bounded heap
//! per query. Memory is the queries plus the passage ids plus `k` candidates per query,
//! whatever the number of passages. Ties rank the earlier passage first, so the result does
//! not depend on batch size or partitioning. A null or all-zero vector has no direction:
//! such a passage is never returned, such a query gets no rows.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float32Array, RecordBatch, UInt32Array, UInt64Array, new_empty_array,
};
use datafusion::arrow::compute::{concat, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{
    Result, ScalarValue, exec_err, internal_err, plan_datafusion_err, plan_err,
};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableType;
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, collect_partitioned,
};
use datafusion::prelude::{ParquetReadOptions, SessionContext, cast, ident};
use futures::StreamExt;
use rayon::prelude::*;

use crate::vector::kernels::dot;
use nodefusion_function::arrays::{VectorColumn, coerce_vector_type};
use nodefusion_model::matrix::{Output, View, multiply};

/// How the function is called, for its errors.
const USAGE: &str = "top_k(passages, passage_vector, queries, query_vector, k [, passage_id \
                     [, query_id]])";

/// Queries scored against one passage batch in one matrix product.
const QUERIES_PER_BLOCK: usize = 256;

/// How far below a query's current k-th score a product's score may fall and still be
/// scored exactly: far above the rounding of a dot product of unit vectors.
const SHORTLIST_MARGIN: f32 = 1e-4;

/// The `top_k` table function.
#[derive(Debug, Default)]
pub struct TopK;

/// One side of the search: a table or Parquet path, its vector column and its id column.
#[derive(Debug, Clone)]
pub(super) struct Side {
    /// `passages` or `queries`, for errors.
    pub(super) role: &'static str,
    pub(super) source: String,
    pub(super) vector: String,
    pub(super) id: Option<String>,
}

impl Side {
    /// The side as a DataFrame of its vector column and, when named, its id column.
    async fn frame(&self, ctx: &SessionContext) -> Result<DataFrame> {
        // A path such as `dir/passages.parquet` is no valid table name: not a table, then.
        let frame = if ctx.table_exist(self.source.as_str()).unwrap_or(false) {
            ctx.table(self.source.as_str()).await?
        } else {
            ctx.read_parquet(self.source.as_str(), ParquetReadOptions::default())
                .await
                .map_err(|error| {
                    plan_datafusion_err!(
                        "top_k: {} '{}' is neither a table nor a readable Parquet path: {error}",
                        self.role,
                        self.source
                    )
                })?
        };
        let schema = frame.schema();
        let mut columns = vec![&self.vector];
        columns.extend(&self.id);
        for column in &columns {
            if schema.field_with_unqualified_name(column).is_err() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return plan_err!(
                    "top_k: {} '{}' has no column '{column}' (its columns: {})",
                    self.role,
                    self.source,
                    names.join(", ")
                );
            }
        }
        let vector_type = schema
            .field_with_unqualified_name(&self.vector)?
            .data_type()
            .clone();
        let function = format!("top_k: {} column '{}'", self.role, self.vector);
        let vector = cast(
            ident(&self.vector),
            coerce_vector_type(&function, &vector_type)?,
        )
        .alias(&self.vector);
        let mut selection = vec![vector];
        selection.extend(self.id.iter().map(ident));
        frame.select(selection)
    }

    /// The id column's type, or the type of row positions.
    fn id_type(&self, frame: &DataFrame) -> DataType {
        match &self.id {
            Some(_) => frame.schema().field(1).data_type().clone(),
            None => DataType::UInt64,
        }
    }
}

/// Everything a call says.
#[derive(Debug)]
pub(super) struct Search {
    pub(super) passages: Side,
    pub(super) queries: Side,
    pub(super) k: usize,
}

fn string_argument(exprs: &[Expr], position: usize, name: &str) -> Result<String> {
    let Some(expr) = exprs.get(position) else {
        return plan_err!("top_k: {name} is missing; usage: {USAGE}");
    };
    let value = match expr {
        Expr::Literal(value, _) => value.try_as_str().flatten(),
        _ => None,
    };
    match value {
        Some(value) => Ok(value.to_string()),
        None => plan_err!("top_k: {name} must be a string, got {expr}; usage: {USAGE}"),
    }
}

impl Search {
    fn parse(exprs: &[Expr]) -> Result<Self> {
        if !(5..=7).contains(&exprs.len()) {
            return plan_err!(
                "top_k takes 5 to 7 arguments, got {}; usage: {USAGE}",
                exprs.len()
            );
        }
        let k = match &exprs[4] {
            Expr::Literal(value, _) => match value.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(k))) if k > 0 => k as usize,
                _ => return plan_err!("top_k: k must be a positive whole number, got {value}"),
            },
            other => return plan_err!("top_k: k must be a number, got {other}"),
        };
        let optional = |position, name| {
            (exprs.len() > position)
                .then(|| string_argument(exprs, position, name))
                .transpose()
        };
        Ok(Self {
            passages: Side {
                role: "passages",
                source: string_argument(exprs, 0, "passages")?,
                vector: string_argument(exprs, 1, "passage_vector")?,
                id: optional(5, "passage_id")?,
            },
            queries: Side {
                role: "queries",
                source: string_argument(exprs, 2, "queries")?,
                vector: string_argument(exprs, 3, "query_vector")?,
                id: optional(6, "query_id")?,
            },
            k,
        })
    }

    pub(super) fn output_schema(&self, passage_id: DataType, query_id: DataType) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("query_id", query_id, true),
            Field::new("passage_id", passage_id, true),
            Field::new("rank", DataType::UInt32, false),
            Field::new("score", DataType::Float32, false),
        ]))
    }
}

/// A session able to plan the two sides: the caller's own session state, reading each side
/// as one stream in table order (row positions are ids, and ties go to the earlier row, so
/// the order must not depend on how many partitions a scan would otherwise be split into).
fn context_of(session: &dyn Session) -> Result<SessionContext> {
    let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
        return plan_err!("top_k: needs a DataFusion SessionState to read its inputs");
    };
    let mut state = state.clone();
    state.config_mut().options_mut().execution.target_partitions = 1;
    Ok(SessionContext::new_with_state(state))
}

impl TableFunctionImpl for TopK {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let search = Search::parse(args.exprs())?;
        let ctx = context_of(args.session())?;
        // Table functions are called synchronously while planning; reading the inputs'
        // schemas (Parquet footers, catalogs) is async, so it runs on a thread of its own.
        let (passage_id, query_id) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async {
                        let passages = search.passages.frame(&ctx).await?;
                        let queries = search.queries.frame(&ctx).await?;
                        Ok::<_, datafusion::error::DataFusionError>((
                            search.passages.id_type(&passages),
                            search.queries.id_type(&queries),
                        ))
                    })
                })
                .join()
                .map_err(|_| plan_datafusion_err!("top_k: reading the inputs' schemas failed"))?
        })?;
        let schema = search.output_schema(passage_id, query_id);
        Ok(Arc::new(TopKTable {
            search: Arc::new(search),
            schema,
        }))
    }
}

/// The table a call of `top_k` stands for.
#[derive(Debug)]
pub(super) struct TopKTable {
    pub(super) search: Arc<Search>,
    pub(super) schema: SchemaRef,
}

#[async_trait]
impl TableProvider for TopKTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let ctx = context_of(state)?;
        let passages = self
            .search
            .passages
            .frame(&ctx)
            .await?
            .create_physical_plan()
            .await?;
        let queries = self
            .search
            .queries
            .frame(&ctx)
            .await?
            .create_physical_plan()
            .await?;
        let projection = projection.cloned();
        Ok(Arc::new(TopKExec::new(
            Arc::clone(&self.search),
            Arc::clone(&self.schema),
            projection,
            passages,
            queries,
        )?))
    }
}

/// The operator: its children are the passages and the queries, each projected to its
/// vector and id columns.
#[derive(Debug)]
pub(super) struct TopKExec {
    pub(super) search: Arc<Search>,
    /// Every output column, before the projection.
    pub(super) full_schema: SchemaRef,
    pub(super) projection: Option<Vec<usize>>,
    passages: Arc<dyn ExecutionPlan>,
    queries: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl TopKExec {
    pub(super) fn new(
        search: Arc<Search>,
        full_schema: SchemaRef,
        projection: Option<Vec<usize>>,
        passages: Arc<dyn ExecutionPlan>,
        queries: Arc<dyn ExecutionPlan>,
    ) -> Result<Self> {
        let schema = match &projection {
            Some(columns) => Arc::new(full_schema.project(columns)?),
            None => Arc::clone(&full_schema),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(Self {
            search,
            full_schema,
            projection,
            passages,
            queries,
            properties,
        })
    }
}

impl DisplayAs for TopKExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "TopKExec: k={}, passages={}, queries={}",
            self.search.k, self.search.passages.vector, self.search.queries.vector
        )
    }
}

impl ExecutionPlan for TopKExec {
    fn name(&self) -> &str {
        "TopKExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.passages, &self.queries]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    /// Row positions count rows in partition order: a repartitioning above the inputs
    /// would shuffle them.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false, false]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [passages, queries] = <[_; 2]>::try_from(children)
            .map_err(|_| plan_datafusion_err!("TopKExec takes two inputs"))?;
        Ok(Arc::new(Self::new(
            Arc::clone(&self.search),
            Arc::clone(&self.full_schema),
            self.projection.clone(),
            passages,
            queries,
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("TopKExec has one partition, asked for {partition}");
        }
        let search = Arc::clone(&self.search);
        let (passages, queries) = (Arc::clone(&self.passages), Arc::clone(&self.queries));
        let (full_schema, projection) = (Arc::clone(&self.full_schema), self.projection.clone());
        let results = futures::stream::once(async move {
            let batch = search_all(&search, passages, queries, context, &full_schema).await?;
            match &projection {
                Some(columns) => Ok(batch.project(columns)?),
                None => Ok(batch),
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            results,
        )))
    }
}

/// Unit-length copies of the vectors of a column, one row per vector; `valid[row]` is false
/// for a null or all-zero vector (whose row is left zero).
struct Normalised {
    values: Vec<f32>,
    valid: Vec<bool>,
    /// The vectors' length: the first vector's, or the one the caller expects.
    dimension: Option<usize>,
}

impl Normalised {
    fn new(side: &Side, columns: &[ArrayRef], dimension: Option<usize>) -> Result<Self> {
        let function = format!("top_k: {} column '{}'", side.role, side.vector);
        let mut normalised = Self {
            values: Vec::new(),
            valid: Vec::new(),
            dimension,
        };
        for column in columns {
            let vectors = VectorColumn::try_new(&function, column)?;
            for row in 0..column.len() {
                normalised.push(&function, vectors.get(row))?;
            }
        }
        Ok(normalised)
    }

    fn push(&mut self, function: &str, vector: Option<&[f32]>) -> Result<()> {
        let norm = vector.map_or(0.0, |v| v.iter().map(|x| x * x).sum::<f32>().sqrt());
        let vector = vector.filter(|_| norm > 0.0 && norm.is_finite());
        if let Some(vector) = vector {
            // The rows before the first vector were null: zero rows of its length.
            let dimension = *self.dimension.get_or_insert(vector.len());
            if self.values.len() < self.valid.len() * dimension {
                self.values.resize(self.valid.len() * dimension, 0.0);
            }
            if vector.len() != dimension {
                return exec_err!(
                    "{function}: a vector of {} values where {dimension} were expected",
                    vector.len()
                );
            }
            self.values.extend(vector.iter().map(|value| value / norm));
        } else {
            let dimension = self.dimension.unwrap_or(0);
            self.values.resize(self.values.len() + dimension, 0.0);
        }
        self.valid.push(vector.is_some());
        Ok(())
    }
}

/// A passage that may make a query's top k: its score and its position in the table. Ordered from worst to best: a lower
/// score, then at equal scores a later position, is worse.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    score: f32,
    position: u64,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.position.cmp(&self.position))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best `k` candidates seen, worst on top.
#[derive(Debug, Clone, Default)]
struct Best {
    heap: BinaryHeap<Reverse<Candidate>>,
}

impl Best {
    fn offer(&mut self, candidate: Candidate, k: usize) {
        if self.heap.len() < k {
            self.heap.push(Reverse(candidate));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate > worst.0
        {
            *worst = Reverse(candidate);
        }
    }

    /// The score a candidate must beat once the heap is full.
    fn bar(&self, k: usize) -> f32 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= k => worst.0.score,
            _ => f32::NEG_INFINITY,
        }
    }
}

/// Scores the passages of one batch against every query and offers them to the heaps;
/// blocks of queries are scored in parallel.
fn score_batch(
    queries: &Normalised,
    passages: &Normalised,
    first_position: u64,
    best: &mut [Best],
    k: usize,
) {
    let count = passages.valid.len();
    let Some(dimension) = queries.dimension else {
        return;
    };
    let blocks = queries.values.par_chunks(QUERIES_PER_BLOCK * dimension);
    blocks
        .zip(best.par_chunks_mut(QUERIES_PER_BLOCK))
        .for_each_init(Vec::new, |scores, (block, block_best)| {
            let rows = block_best.len();
            scores.resize(rows * count, 0.0);
            multiply(
                View::rows(block, dimension),
                View::rows(&passages.values, dimension).transposed(),
                Output::rows(scores, count),
                1.0,
                false,
                1,
            );
            let query_rows = block.chunks_exact(dimension);
            for ((query_scores, heap), query) in scores
                .chunks_exact(count)
                .zip(block_best.iter_mut())
                .zip(query_rows)
            {
                let mut bar = heap.bar(k);
                for (row, &score) in query_scores.iter().enumerate() {
                    // The product's blocking (which varies with the batch) moves a score by
                    // an ulp or two: it only shortlists, and a shortlisted passage is scored
                    // again by one fixed summation, so that ranks and scores never depend on
                    // how the passages were batched.
                    if score + SHORTLIST_MARGIN >= bar && passages.valid[row] {
                        let passage = &passages.values[row * dimension..(row + 1) * dimension];
                        heap.offer(
                            Candidate {
                                score: dot(query, passage),
                                position: first_position + row as u64,
                            },
                            k,
                        );
                        bar = heap.bar(k);
                    }
                }
            }
        });
}

/// Streams the passages, partition after partition in order, through the heaps.
async fn search_passages(
    search: &Search,
    passages: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    queries: &Normalised,
) -> Result<(Vec<Best>, Vec<ArrayRef>)> {
    let mut best = vec![Best::default(); queries.valid.len()];
    let mut ids = Vec::new();
    let mut position = 0;
    for partition in 0..passages.properties().partitioning.partition_count() {
        let mut stream = passages.execute(partition, Arc::clone(&context))?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let vectors =
                Normalised::new(&search.passages, &batch.columns()[..1], queries.dimension)?;
            score_batch(queries, &vectors, position, &mut best, search.k);
            position += batch.num_rows() as u64;
            if search.passages.id.is_some() {
                ids.push(Arc::clone(batch.column(1)));
            }
        }
    }
    Ok((best, ids))
}

/// Concatenates id arrays, or makes an empty one.
fn concat_ids(ids: &[ArrayRef], data_type: &DataType) -> Result<ArrayRef> {
    if ids.is_empty() {
        return Ok(new_empty_array(data_type));
    }
    let refs: Vec<&dyn datafusion::arrow::array::Array> = ids.iter().map(AsRef::as_ref).collect();
    Ok(concat(&refs)?)
}

async fn search_all(
    search: &Arc<Search>,
    passages: Arc<dyn ExecutionPlan>,
    queries: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let query_batches: Vec<RecordBatch> = collect_partitioned(queries, Arc::clone(&context))
        .await?
        .into_iter()
        .flatten()
        .collect();
    let query_vectors: Vec<ArrayRef> = query_batches
        .iter()
        .map(|b| Arc::clone(b.column(0)))
        .collect();
    let query_matrix = Normalised::new(&search.queries, &query_vectors, None)?;

    let (best, passage_ids) = search_passages(search, passages, context, &query_matrix).await?;
    let (mut query_rows, mut passage_rows, mut ranks, mut scores) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (query, best) in best.into_iter().enumerate() {
        if !query_matrix.valid[query] {
            continue;
        }
        for (rank, Reverse(candidate)) in best.heap.into_sorted_vec().into_iter().enumerate() {
            query_rows.push(query as u64);
            passage_rows.push(candidate.position);
            ranks.push(rank as u32 + 1);
            scores.push(candidate.score);
        }
    }
    let query_rows = UInt64Array::from(query_rows);
    let passage_rows = UInt64Array::from(passage_rows);
    let ids =
        |side: &Side, ids: Vec<ArrayRef>, rows: UInt64Array, field: usize| -> Result<ArrayRef> {
            match side.id {
                Some(_) => Ok(take(
                    &concat_ids(&ids, schema.field(field).data_type())?,
                    &rows,
                    None,
                )?),
                None => Ok(Arc::new(rows)),
            }
        };
    let query_ids: Vec<ArrayRef> = query_batches
        .iter()
        .filter(|_| search.queries.id.is_some())
        .map(|batch| Arc::clone(batch.column(1)))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            ids(&search.queries, query_ids, query_rows, 0)?,
            ids(&search.passages, passage_ids, passage_rows, 1)?,
            Arc::new(UInt32Array::from(ranks)),
            Arc::new(Float32Array::from(scores)),
        ],
    )?)
}
