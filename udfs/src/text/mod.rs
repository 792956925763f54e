//! Text functions: `normalize_text`, `word_count`, `chunk_text`, the stateful
//! `token_count`, and DataFusion's `regexp_replace` and `lower` under their own names with
//! faster paths (character classes; ASCII rows), and the two together in one pass
//! ([`LoweredClassReplacement`], for the expressions of pipeline nodes).

mod ascii_space;
mod byte_class_replacement;
mod chunk_text;
mod lower;
mod lowered_class_replacement;
mod normalize_text;
mod regexp_replace;
mod rewritten_rows;
mod token_count;
mod word_count;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub use chunk_text::{ChunkText, chunk};
pub use lower::Lower;
pub use lowered_class_replacement::LoweredClassReplacement;
pub use normalize_text::{NormalizeText, normalize};
pub use regexp_replace::RegexpReplace;
pub use token_count::TokenCount;
pub use word_count::WordCount;

use nodefusion_function::OperatorFunction;

/// Every text function.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(NormalizeText::new())),
        Arc::new(ScalarUDF::new_from_impl(WordCount::new())),
        Arc::new(ScalarUDF::new_from_impl(ChunkText::new())),
        Arc::new(ScalarUDF::new_from_impl(RegexpReplace::new())),
        Arc::new(ScalarUDF::new_from_impl(Lower::new())),
        Arc::new(OperatorFunction::Stateful(Arc::new(TokenCount::new())).into_udf()),
    ]
}
