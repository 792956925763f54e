//! Retrieval: `top_k`, the exact nearest passages of every query by cosine similarity, as a
//! table function that scores blocks of queries against batches of passages in one matrix
//! product each. `top_k`'s table and operator travel to a cluster as bytes
//! ([`encode_top_k_table`], [`encode_top_k_exec`] and their inverses).

mod top_k;
mod top_k_codec;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;

pub use top_k::TopK;
pub use top_k_codec::{
    decode_top_k_exec, decode_top_k_table, encode_top_k_exec, encode_top_k_table,
};

/// Every retrieval table function, by name.
pub fn table_functions() -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    vec![("top_k", Arc::new(TopK))]
}
