//! Retrieval: `top_k`, the exact nearest passages of every query by cosine similarity, as a
//! table function that scores blocks of queries against batches of passages in one matrix
//! product each.

mod top_k;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;

pub use top_k::TopK;

/// Every retrieval table function, by name.
pub fn table_functions() -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    vec![("top_k", Arc::new(TopK))]
}
