//! Embedding functions: `embed(text [, model])`, sentence-transformers models run by
//! `nodefusion-model`.

mod embed;
mod vectors;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;
use nodefusion_function::OperatorFunction;

pub use embed::Embed;
pub use vectors::vector_array;
pub(crate) use vectors::{distinct_texts, vector_type};

/// Every embedding function.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(
        OperatorFunction::Stateful(Arc::new(Embed::new())).into_udf(),
    )]
}
