//! `llm(prompt [, model [, provider [, system [, temperature [, max_tokens [, seed [,
//! response_format]]]]]]])`: one chat completion per row from an OpenAI-compatible API
//! (`/chat/completions`), under the provider's rate limits. A null prompt gives a null;
//! a null option takes its default; a `response_format` (a JSON schema) asks for JSON that
//! the answer must then parse as, or the row fails.

use std::sync::LazyLock;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Documentation, Signature};
use serde_json::{Value, json};

use nodefusion_function::calls::{Admission, CallContext, Providers};
use nodefusion_function::{AsyncRowFunction, CallError, FunctionMeta};

use super::arguments::{Number, coerce_arguments, provider_url, remote_signature};
use super::service::Endpoint;
use super::tokens::count_tokens;

/// The parameters, in order.
const PARAMETERS: [&str; 8] = [
    "prompt",
    "model",
    "provider",
    "system",
    "temperature",
    "max_tokens",
    "seed",
    "response_format",
];

/// The output tokens reserved for a call that sets no `max_tokens`, until its usage is known.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        super::DOC_SECTION_LLM,
        "One chat completion per row from an OpenAI-compatible API, under the provider's \
         rate limits (requests and tokens per minute, a shared cool-down after a 429, \
         adaptive concurrency); a null prompt gives a null.",
        "llm(prompt [, model [, provider [, system [, temperature [, max_tokens [, seed [, response_format]]]]]]])",
    )
    .with_sql_example(
        "```sql\n> SET nodefusion.provider.local.base_url = 'http://127.0.0.1:8000/v1';\n> SELECT llm('Say hi', 'gpt-4o-mini', 'local');\n```",
    )
    .with_argument("prompt", "The user message.")
    .with_argument("model", "The model; default: the provider's `model`.")
    .with_argument(
        "provider",
        "A provider declared in the pipeline file ([providers.NAME]) or the session (SET nodefusion.provider.NAME.base_url); default: `default`, else OPENAI_BASE_URL with OPENAI_API_KEY.",
    )
    .with_argument("system", "A system message sent before the prompt.")
    .with_argument("temperature", "Sampling temperature, 0 to 2.")
    .with_argument("max_tokens", "The most tokens the answer may have.")
    .with_argument("seed", "A seed, for providers that sample reproducibly.")
    .with_argument(
        "response_format",
        "A JSON schema (a string) the answer must follow; the answer must then parse as JSON.",
    )
    .build()
});

/// The `llm` function.
#[derive(Debug)]
pub struct Llm {
    signature: Signature,
}

impl Llm {
    /// The function, ready to wrap in a node function.
    pub fn new() -> Self {
        Self {
            signature: remote_signature(&PARAMETERS),
        }
    }
}

impl Default for Llm {
    fn default() -> Self {
        Self::new()
    }
}

/// What one row asks for.
struct ChatCall {
    endpoint: Endpoint,
    model: String,
    body: Value,
    /// Tokens the call may use at most: the messages' plus `max_tokens`.
    estimate: u64,
    json_answer: bool,
}

fn text(args: &[ScalarValue], position: usize) -> Result<Option<&str>, CallError> {
    match args.get(position) {
        None => Ok(None),
        Some(value) if value.is_null() => Ok(None),
        Some(value) => value.try_as_str().flatten().map(Some).ok_or_else(|| {
            CallError::permanent(format!(
                "{} must be a string, got {value}",
                PARAMETERS[position]
            ))
        }),
    }
}

fn number(args: &[ScalarValue], position: usize) -> Result<Option<f64>, CallError> {
    match args.get(position) {
        None => Ok(None),
        Some(value) if value.is_null() => Ok(None),
        Some(ScalarValue::Float64(Some(number))) => Ok(Some(*number)),
        Some(ScalarValue::Int64(Some(number))) => Ok(Some(*number as f64)),
        Some(value) => Err(CallError::permanent(format!(
            "{} must be a number, got {value}",
            PARAMETERS[position]
        ))),
    }
}

fn whole(args: &[ScalarValue], position: usize, least: i64) -> Result<Option<i64>, CallError> {
    match number(args, position)? {
        Some(value) if value.fract() != 0.0 || value < least as f64 || value > i64::MAX as f64 => {
            Err(CallError::permanent(format!(
                "{} must be a whole number of at least {least}, got {value}",
                PARAMETERS[position]
            )))
        }
        value => Ok(value.map(|value| value as i64)),
    }
}

impl ChatCall {
    /// Reads one row's arguments.
    fn new(args: &[ScalarValue], providers: &Providers) -> Result<Self, CallError> {
        let prompt = text(args, 0)?.unwrap_or_default();
        let (name, provider) = providers
            .resolve(text(args, 2)?)
            .map_err(CallError::fatal)?;
        let model = match text(args, 1)?.or(provider.model.as_deref()) {
            Some(model) => model.to_string(),
            None => {
                return Err(CallError::fatal(format!(
                    "no model: give llm's 'model' or set provider '{name}''s model"
                )));
            }
        };
        let endpoint = Endpoint { name, provider };
        let system = text(args, 3)?;
        let temperature = number(args, 4)?;
        if let Some(temperature) = temperature
            && !(0.0..=2.0).contains(&temperature)
        {
            return Err(CallError::permanent(format!(
                "temperature must be between 0 and 2, got {temperature}"
            )));
        }
        let max_tokens = whole(args, 5, 1)?;
        let seed = whole(args, 6, i64::MIN)?;
        let schema = match text(args, 7)? {
            Some(schema) => Some(serde_json::from_str::<Value>(schema).map_err(|error| {
                CallError::permanent(format!("response_format is not a JSON schema: {error}"))
            })?),
            None => None,
        };
        let mut messages = Vec::new();
        let mut estimate = 3;
        for (role, content) in system
            .map(|s| ("system", s))
            .into_iter()
            .chain([("user", prompt)])
        {
            estimate += 4 + count_tokens(content);
            messages.push(json!({"role": role, "content": content}));
        }
        estimate += max_tokens.map_or(DEFAULT_OUTPUT_ESTIMATE, |tokens| tokens as u64);
        let mut body = json!({"model": model, "messages": messages});
        if let Some(temperature) = temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        if let Some(seed) = seed {
            body["seed"] = json!(seed);
        }
        if let Some(schema) = &schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": true},
            });
        }
        Ok(Self {
            endpoint,
            model,
            body,
            estimate,
            json_answer: schema.is_some(),
        })
    }
}

impl FunctionMeta for Llm {
    fn name(&self) -> &str {
        "llm"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_arguments(
            self.name(),
            arg_types,
            &PARAMETERS,
            &[
                ("temperature", Number::Float),
                ("max_tokens", Number::Whole),
                ("seed", Number::Whole),
            ],
        )
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }

    fn skippable_parameters(&self) -> bool {
        true
    }

    /// At temperature 0 or with a seed.
    fn deterministic(&self, args: &[Option<&ScalarValue>]) -> bool {
        let given = |position: usize| {
            args.get(position)
                .copied()
                .flatten()
                .filter(|value| !value.is_null())
        };
        let cold = given(4).is_some_and(|temperature| {
            matches!(temperature, ScalarValue::Float64(Some(t)) if *t == 0.0)
                || matches!(temperature, ScalarValue::Int64(Some(0)))
        });
        cold || given(6).is_some()
    }

    /// The provider's URL.
    fn cache_scope(&self, args: &[Option<&ScalarValue>], providers: &Providers) -> String {
        provider_url(args, 2, providers)
    }
}

#[async_trait]
impl AsyncRowFunction for Llm {
    fn admission(
        &self,
        args: &[ScalarValue],
        providers: &Providers,
    ) -> Result<Option<Admission>, CallError> {
        let call = ChatCall::new(args, providers)?;
        Ok(Some(Admission {
            limiter: call.endpoint.limiter(&call.model)?,
            tokens: call.estimate,
        }))
    }

    async fn call(
        &self,
        args: &[ScalarValue],
        _return_type: &DataType,
        mut context: CallContext<'_>,
    ) -> Result<ScalarValue, CallError> {
        let call = ChatCall::new(args, context.providers)?;
        let (answer, usage) = call
            .endpoint
            .post("/chat/completions", &call.body, &mut context)
            .await?;
        if let Some(permit) = context.permit {
            permit.settle(usage.input.saturating_add(usage.output));
        }
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| {
                CallError::permanent(format!(
                    "provider '{}': the answer has no choices[0].message.content",
                    call.endpoint.name
                ))
            })?;
        if call.json_answer
            && let Err(error) = serde_json::from_str::<Value>(content)
        {
            let start: String = content.chars().take(80).collect();
            return Err(CallError::permanent(format!(
                "the answer is not the JSON response_format asks for ({error}): '{start}'"
            )));
        }
        Ok(ScalarValue::Utf8(Some(content.to_string())))
    }
}
