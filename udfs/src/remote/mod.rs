//! Remote model functions: calls to OpenAI-compatible APIs under the providers' rate limits.
//!
//! - [`Llm`]: `llm(prompt, ...)`, one chat completion per row;
//! - [`EmbedRemote`]: `embed_remote(text, ...)`, vectors for many rows per request.
//!
//! Providers (where, which key, limits, prices) come from the session or the pipeline file
//! (`nodefusion_function::calls::Providers`); every call to a provider's model passes that
//! model's process-wide limiter; [`service`] sends the requests and reads the answers.

mod arguments;
mod embed_remote;
mod llm;
mod service;
mod tokens;

use std::sync::Arc;

use datafusion::logical_expr::{DocSection, ScalarUDF};
use nodefusion_function::OperatorFunction;

pub use embed_remote::{DEFAULT_MAX_BATCH_TOKENS, EmbedRemote};
pub use llm::{DEFAULT_OUTPUT_ESTIMATE, Llm};
pub use service::provider_duration;
pub use tokens::count_tokens;

/// Built-in LLM functions.
pub const DOC_SECTION_LLM: DocSection = DocSection {
    include: true,
    label: "nodefusion LLM functions",
    description: None,
};

/// Every LLM function.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(OperatorFunction::AsyncRow(Arc::new(Llm::new())).into_udf()),
        Arc::new(OperatorFunction::AsyncBatch(Arc::new(EmbedRemote::new())).into_udf()),
    ]
}
