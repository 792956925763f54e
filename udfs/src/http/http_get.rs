//! `http_get(url)`: GET a URL; `{status, body}`.

use std::sync::{LazyLock, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{DocSection, Documentation, Signature, Volatility};

use super::{client, coerce_strings, response_type, send, text_argument};
use crate::function::{AsyncRowFunction, CallError, FunctionMeta};

/// Built-in HTTP functions.
pub const DOC_SECTION_HTTP: DocSection = DocSection {
    include: true,
    label: "nodefusion HTTP functions",
    description: None,
};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_HTTP,
        "GETs a URL and returns {status, body}; many rows in flight, with timeouts and retries.",
        "http_get(url)",
    )
    .with_sql_example("```sql\n> SELECT http_get('http://127.0.0.1:8080/x')['status'];\n```")
    .with_argument("url", "The URL to fetch.")
    .build()
});

/// The `http_get` function.
#[derive(Debug)]
pub struct HttpGet {
    signature: Signature,
    client: OnceLock<reqwest::Client>,
}

impl HttpGet {
    /// The function, ready to wrap in a node function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Volatile)
                .with_parameter_names(vec!["url"])
                .expect("user-defined signatures take any parameter names"),
            client: OnceLock::new(),
        }
    }
}

impl Default for HttpGet {
    fn default() -> Self {
        Self::new()
    }
}

impl FunctionMeta for HttpGet {
    fn name(&self) -> &str {
        "http_get"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_strings(self.name(), arg_types, &["url"])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(response_type())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[async_trait]
impl AsyncRowFunction for HttpGet {
    async fn call(
        &self,
        args: &[ScalarValue],
        _return_type: &DataType,
    ) -> Result<ScalarValue, CallError> {
        let url = text_argument(&args[0], "url")?;
        send(client(&self.client).get(url)).await
    }
}
