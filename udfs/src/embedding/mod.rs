//! Embedding functions: `embed(text [, model])`, sentence-transformers models run on candle.
//!
//! - [`sentence_encoder`] reads a model directory (tokenizer, weights, pooling, normalisation)
//!   and turns texts into vectors;
//! - `bert` is the BERT encoder over packed sequences, `kernels` its CPU kernels.

mod bert;
mod embed;
mod kernels;
pub mod sentence_encoder;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub use embed::Embed;
pub use sentence_encoder::{SentenceEncoder, embedding_dimension};

use crate::function::OperatorFunction;

/// Every embedding function.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(
        OperatorFunction::Stateful(Arc::new(Embed::new())).into_udf(),
    )]
}
