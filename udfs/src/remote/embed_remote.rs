//! `embed_remote(text [, model [, provider [, dimensions]]])`: text embeddings from an
//! OpenAI-compatible API (`/embeddings`), a `FixedSizeList<Float32>` per row. Async per
//! batch: each distinct non-empty text of a batch is sent once, many texts per request, up
//! to the provider's `max_batch_tokens` (default 300,000) and 2,048 texts a request, under
//! the provider's rate limits. A null or empty text gives a null vector.

use std::sync::LazyLock;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, new_null_array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Documentation, Signature};
use serde_json::{Value, json};

use nodefusion_function::arrays::StringColumn;
use nodefusion_function::calls::{Admission, CallContext, Providers};
use nodefusion_function::{AsyncBatchFunction, CallError, FunctionMeta};

use super::DOC_SECTION_LLM;
use super::arguments::{Number, coerce_arguments, provider_url, remote_signature};
use super::service::Endpoint;
use super::tokens::count_tokens;
use crate::embedding::{distinct_texts, vector_array, vector_type};

/// The parameters, in order.
const PARAMETERS: [&str; 4] = ["text", "model", "provider", "dimensions"];

/// The most tokens one request carries when the provider sets no `max_batch_tokens`.
pub const DEFAULT_MAX_BATCH_TOKENS: u64 = 300_000;
/// The most texts one request carries.
const MAX_INPUTS_PER_REQUEST: usize = 2048;

/// Vector lengths of well-known models, for calls that give no `dimensions`.
const KNOWN_DIMENSIONS: &[(&str, usize)] = &[
    ("text-embedding-3-small", 1536),
    ("text-embedding-3-large", 3072),
    ("text-embedding-ada-002", 1536),
];

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_LLM,
        "Text embeddings from an OpenAI-compatible API, many texts per request, under the \
         provider's rate limits; a null or empty text gives a null vector.",
        "embed_remote(text [, model [, provider [, dimensions]]])",
    )
    .with_sql_example(
        "```sql\n> SELECT embed_remote(text, 'text-embedding-3-small') FROM docs;\n```",
    )
    .with_argument("text", "The text to embed.")
    .with_argument("model", "The model (a constant); default: the provider's `model`.")
    .with_argument("provider", "A declared provider (a constant); default: `default`, else OPENAI_BASE_URL.")
    .with_argument(
        "dimensions",
        "The vector length (a constant), sent to the API; needed unless the model is a known one (text-embedding-3-small, -3-large, ada-002).",
    )
    .build()
});

/// The `embed_remote` function.
#[derive(Debug)]
pub struct EmbedRemote {
    signature: Signature,
}

impl EmbedRemote {
    /// The function, ready to wrap in a node function.
    pub fn new() -> Self {
        Self {
            signature: remote_signature(&PARAMETERS),
        }
    }
}

impl Default for EmbedRemote {
    fn default() -> Self {
        Self::new()
    }
}

/// The constant at `position` of a batch's arguments (its first row).
fn constant(args: &[ArrayRef], position: usize) -> Result<Option<ScalarValue>, CallError> {
    match args.get(position) {
        Some(array) if !array.is_empty() && array.is_valid(0) => {
            Ok(Some(ScalarValue::try_from_array(array, 0)?))
        }
        _ => Ok(None),
    }
}

/// What a batch asks for.
struct EmbeddingCall {
    endpoint: Endpoint,
    model: String,
    dimensions: Option<usize>,
}

impl EmbeddingCall {
    fn new(args: &[ArrayRef], providers: &Providers) -> Result<Self, CallError> {
        let text_of = |position| -> Result<Option<String>, CallError> {
            Ok(constant(args, position)?
                .and_then(|value| value.try_as_str().flatten().map(str::to_string)))
        };
        let (name, provider) = providers
            .resolve(text_of(2)?.as_deref())
            .map_err(CallError::fatal)?;
        let model = match text_of(1)?.or_else(|| provider.model.clone()) {
            Some(model) => model,
            None => {
                return Err(CallError::fatal(format!(
                    "no model: give embed_remote's 'model' or set provider '{name}''s model"
                )));
            }
        };
        let dimensions = match constant(args, 3)? {
            Some(ScalarValue::Int64(Some(d))) if d > 0 => Some(d as usize),
            Some(other) => {
                return Err(CallError::fatal(format!(
                    "dimensions must be a whole number of at least 1, got {other}"
                )));
            }
            None => None,
        };
        Ok(Self {
            endpoint: Endpoint { name, provider },
            model,
            dimensions,
        })
    }
}

/// The vector length of a call with `constants`: its `dimensions`, or its known model's.
fn dimension(constants: &[Option<&ScalarValue>]) -> Result<usize> {
    let given = |position: usize| {
        constants
            .get(position)
            .copied()
            .flatten()
            .filter(|v| !v.is_null())
    };
    if let Some(value) = given(3) {
        return match value {
            ScalarValue::Int64(Some(d)) if *d > 0 => Ok(*d as usize),
            other => plan_err!(
                "embed_remote: dimensions must be a whole number of at least 1, got {other}"
            ),
        };
    }
    let model = given(1).and_then(|value| value.try_as_str().flatten());
    match model.and_then(|model| KNOWN_DIMENSIONS.iter().find(|(known, _)| *known == model)) {
        Some((_, dimension)) => Ok(*dimension),
        None => plan_err!(
            "embed_remote: give 'dimensions' (the vector length) for model {}; it is known only for {}",
            model.map_or("(the provider's)".to_string(), |m| format!("'{m}'")),
            KNOWN_DIMENSIONS
                .iter()
                .map(|(model, _)| *model)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl FunctionMeta for EmbedRemote {
    fn name(&self) -> &str {
        "embed_remote"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_arguments(
            self.name(),
            arg_types,
            &PARAMETERS,
            &[("dimensions", Number::Whole)],
        )
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.return_type_with_constants(arg_types, &[])
    }

    fn return_type_with_constants(
        &self,
        arg_types: &[DataType],
        constants: &[Option<&ScalarValue>],
    ) -> Result<DataType> {
        let columns = (1..arg_types.len())
            .zip(&PARAMETERS[1..])
            .find(|(position, _)| constants.get(*position).copied().flatten().is_none());
        if let Some((_, name)) = columns {
            return plan_err!("embed_remote: {name} must be a constant, not a column");
        }
        Ok(vector_type(dimension(constants)?))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }

    fn default_batch_size(&self) -> Option<usize> {
        Some(256)
    }

    fn skippable_parameters(&self) -> bool {
        true
    }

    /// The same model gives the same vector for the same text.
    fn deterministic(&self, _args: &[Option<&ScalarValue>]) -> bool {
        true
    }

    /// The provider's URL.
    fn cache_scope(&self, args: &[Option<&ScalarValue>], providers: &Providers) -> String {
        provider_url(args, 2, providers)
    }
}

/// The distinct texts of a batch, in requests within the provider's limits.
fn requests<'a>(distinct: &[&'a str], max_tokens: u64) -> Vec<(Vec<&'a str>, u64)> {
    let mut requests: Vec<(Vec<&str>, u64)> = Vec::new();
    for text in distinct {
        let tokens = count_tokens(text);
        match requests.last_mut() {
            Some((texts, total))
                if *total + tokens <= max_tokens && texts.len() < MAX_INPUTS_PER_REQUEST =>
            {
                texts.push(text);
                *total += tokens;
            }
            _ => requests.push((vec![text], tokens)),
        }
    }
    requests
}

#[async_trait]
impl AsyncBatchFunction for EmbedRemote {
    fn admission(
        &self,
        args: &[ArrayRef],
        providers: &Providers,
    ) -> Result<Option<Admission>, CallError> {
        let call = EmbeddingCall::new(args, providers)?;
        let Some(text) = args.first() else {
            return Ok(None);
        };
        let text = StringColumn::try_new("embed_remote", text)?;
        let (distinct, _) = distinct_texts(&text, args[0].len(), |value| !value.is_empty());
        Ok(Some(Admission {
            limiter: call.endpoint.limiter(&call.model)?,
            tokens: distinct.iter().map(|text| count_tokens(text)).sum(),
        }))
    }

    async fn call(
        &self,
        args: &[ArrayRef],
        mut context: CallContext<'_>,
    ) -> Result<ArrayRef, CallError> {
        let call = EmbeddingCall::new(args, context.providers)?;
        let Some(text_array) = args.first() else {
            return Err(CallError::permanent("embed_remote takes a text"));
        };
        let rows = text_array.len();
        let text = StringColumn::try_new("embed_remote", text_array)?;
        let (distinct, slots) = distinct_texts(&text, rows, |value| !value.is_empty());
        let dimension = match call.dimensions {
            Some(dimension) => dimension,
            None => dimension(&[None, Some(&ScalarValue::Utf8(Some(call.model.clone())))])?,
        };
        if distinct.is_empty() {
            return Ok(new_null_array(&vector_type(dimension), rows));
        }
        let max_tokens = call
            .endpoint
            .provider
            .max_batch_tokens
            .unwrap_or(DEFAULT_MAX_BATCH_TOKENS);
        let mut vectors: Vec<f32> = Vec::with_capacity(distinct.len() * dimension);
        let mut used: u64 = 0;
        for (texts, _) in requests(&distinct, max_tokens) {
            let mut body = json!({"model": call.model, "input": texts});
            if let Some(dimensions) = call.dimensions {
                body["dimensions"] = json!(dimensions);
            }
            let (answer, usage) = call
                .endpoint
                .post("/embeddings", &body, &mut context)
                .await?;
            used = used.saturating_add(usage.input.saturating_add(usage.output));
            read_vectors(
                &answer,
                texts.len(),
                dimension,
                &call.endpoint.name,
                &mut vectors,
            )?;
        }
        if let Some(permit) = context.permit {
            permit.settle(used);
        }
        Ok(vector_array(dimension, &slots, &vectors)?)
    }
}

/// Appends the `count` vectors of an `/embeddings` answer, in input order, to `vectors`.
fn read_vectors(
    answer: &Value,
    count: usize,
    dimension: usize,
    provider: &str,
    vectors: &mut Vec<f32>,
) -> Result<(), CallError> {
    let wrong = |what: String| CallError::permanent(format!("provider '{provider}': {what}"));
    let data = answer["data"]
        .as_array()
        .ok_or_else(|| wrong("the answer has no 'data' list".into()))?;
    if data.len() != count {
        return Err(wrong(format!("{} vectors for {count} texts", data.len())));
    }
    let mut ordered: Vec<&Value> = data.iter().collect();
    ordered.sort_by_key(|item| item["index"].as_u64().unwrap_or(u64::MAX));
    for item in ordered {
        let values = item["embedding"]
            .as_array()
            .ok_or_else(|| wrong("an item has no 'embedding'".into()))?;
        if values.len() != dimension {
            return Err(wrong(format!(
                "a vector of {} values, expected {dimension} (dimensions)",
                values.len()
            )));
        }
        for value in values {
            vectors.push(
                value
                    .as_f64()
                    .ok_or_else(|| wrong(format!("a vector value {value} is not a number")))?
                    as f32,
            );
        }
    }
    Ok(())
}
