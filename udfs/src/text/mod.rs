//! Text functions: `normalize_text`, `word_count`, `chunk_text`.

mod chunk_text;
mod normalize_text;
mod word_count;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub use chunk_text::{ChunkText, chunk};
pub use normalize_text::{NormalizeText, normalize};
pub use word_count::WordCount;

/// Every text function.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(NormalizeText::new())),
        Arc::new(ScalarUDF::new_from_impl(WordCount::new())),
        Arc::new(ScalarUDF::new_from_impl(ChunkText::new())),
    ]
}
