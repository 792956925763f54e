//! `top_k` across processes: its table (in logical plans) and its operator (in physical
//! plans) as bytes, for the plan codecs of a cluster. What travels is the call itself (the
//! two sides, `k`, the projection); the sides' sources are read again where the plan is
//! decoded, so a relative local path is made absolute first.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{Result, plan_datafusion_err};
use datafusion::physical_plan::ExecutionPlan;
use serde::{Deserialize, Serialize};

use super::top_k::{Search, Side, TopKExec, TopKTable};

/// One side of a search as it travels.
#[derive(Debug, Serialize, Deserialize)]
struct SideMessage {
    source: String,
    vector: String,
    id: Option<String>,
}

/// A `top_k` call as it travels; `projection` only for the operator.
#[derive(Debug, Serialize, Deserialize)]
struct TopKMessage {
    passages: SideMessage,
    queries: SideMessage,
    k: usize,
    projection: Option<Vec<usize>>,
}

impl SideMessage {
    fn of(side: &Side) -> Self {
        // A local path means the same file everywhere only when absolute; a table name
        // (no such file) stays as it is.
        let source = std::fs::canonicalize(Path::new(&side.source))
            .ok()
            .and_then(|path| path.to_str().map(str::to_string))
            .unwrap_or_else(|| side.source.clone());
        Self {
            source,
            vector: side.vector.clone(),
            id: side.id.clone(),
        }
    }

    fn side(self, role: &'static str) -> Side {
        Side {
            role,
            source: self.source,
            vector: self.vector,
            id: self.id,
        }
    }
}

impl TopKMessage {
    fn of(search: &Search, projection: Option<Vec<usize>>) -> Self {
        Self {
            passages: SideMessage::of(&search.passages),
            queries: SideMessage::of(&search.queries),
            k: search.k,
            projection,
        }
    }

    fn encode(&self) -> Vec<u8> {
        // Strings, numbers and options only: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn decode(bytes: &[u8]) -> Result<(Search, Option<Vec<usize>>)> {
        let message: Self = serde_json::from_slice(bytes)
            .map_err(|error| plan_datafusion_err!("top_k: a malformed plan message: {error}"))?;
        let search = Search {
            passages: message.passages.side("passages"),
            queries: message.queries.side("queries"),
            k: message.k,
        };
        Ok((search, message.projection))
    }
}

/// The bytes of `provider` if it is a `top_k` table.
pub fn encode_top_k_table(provider: &dyn TableProvider) -> Option<Vec<u8>> {
    let table = provider.downcast_ref::<TopKTable>()?;
    Some(TopKMessage::of(&table.search, None).encode())
}

/// The `top_k` table of `bytes` (from [`encode_top_k_table`]), whose schema is `schema`.
pub fn decode_top_k_table(bytes: &[u8], schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    let (search, _) = TopKMessage::decode(bytes)?;
    Ok(Arc::new(TopKTable {
        search: Arc::new(search),
        schema,
    }))
}

/// The bytes of `plan` if it is `top_k`'s operator (without its two inputs, which the
/// plan codec carries).
pub fn encode_top_k_exec(plan: &dyn ExecutionPlan) -> Option<Vec<u8>> {
    let exec = plan.downcast_ref::<TopKExec>()?;
    Some(TopKMessage::of(&exec.search, exec.projection.clone()).encode())
}

/// The type of a side's ids: its id column (the second of its input) or row positions.
fn id_type(side: &Side, input: &Arc<dyn ExecutionPlan>) -> DataType {
    match &side.id {
        Some(_) if input.schema().fields().len() > 1 => input.schema().field(1).data_type().clone(),
        _ => DataType::UInt64,
    }
}

/// `top_k`'s operator of `bytes` (from [`encode_top_k_exec`]) over its decoded inputs, the
/// passages and the queries.
pub fn decode_top_k_exec(
    bytes: &[u8],
    inputs: &[Arc<dyn ExecutionPlan>],
) -> Result<Arc<dyn ExecutionPlan>> {
    let (search, projection) = TopKMessage::decode(bytes)?;
    let [passages, queries] = inputs else {
        return Err(plan_datafusion_err!(
            "TopKExec takes two inputs, got {}",
            inputs.len()
        ));
    };
    let full_schema = search.output_schema(
        id_type(&search.passages, passages),
        id_type(&search.queries, queries),
    );
    Ok(Arc::new(TopKExec::new(
        Arc::new(search),
        full_schema,
        projection,
        Arc::clone(passages),
        Arc::clone(queries),
    )?))
}
