//! `http_post_json(url, body)`: POST a JSON document; `{status, body}`.

use std::sync::{LazyLock, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Documentation, Signature, Volatility};

use super::http_get::DOC_SECTION_HTTP;
use super::{client, coerce_strings, response_type, send, text_argument};
use crate::function::{AsyncRowFunction, CallError, FunctionMeta};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_HTTP,
        "POSTs a JSON body to a URL and returns {status, body}; many rows in flight, with \
         timeouts and retries.",
        "http_post_json(url, body)",
    )
    .with_sql_example(
        "```sql\n> SELECT http_post_json('http://127.0.0.1:8080/embed', '{\"text\": \"hi\"}')['body'];\n```",
    )
    .with_argument("url", "The URL to post to.")
    .with_argument("body", "The JSON document to send (a string; it must parse as JSON).")
    .build()
});

/// The `http_post_json` function.
#[derive(Debug)]
pub struct HttpPostJson {
    signature: Signature,
    client: OnceLock<reqwest::Client>,
}

impl HttpPostJson {
    /// The function, ready to wrap in a node function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Volatile)
                .with_parameter_names(vec!["url", "body"])
                .expect("user-defined signatures take any parameter names"),
            client: OnceLock::new(),
        }
    }
}

impl Default for HttpPostJson {
    fn default() -> Self {
        Self::new()
    }
}

impl FunctionMeta for HttpPostJson {
    fn name(&self) -> &str {
        "http_post_json"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_strings(self.name(), arg_types, &["url", "body"])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(response_type())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[async_trait]
impl AsyncRowFunction for HttpPostJson {
    async fn call(
        &self,
        args: &[ScalarValue],
        _return_type: &DataType,
    ) -> Result<ScalarValue, CallError> {
        let url = text_argument(&args[0], "url")?;
        let body = text_argument(&args[1], "body")?;
        serde_json::from_str::<serde_json::Value>(body)
            .map_err(|error| CallError::permanent(format!("body is not JSON: {error}")))?;
        let request = client(&self.client)
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        send(request).await
    }
}
