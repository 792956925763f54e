//! `http_get(url)`: GET a URL; `{status, body}`.

use std::sync::LazyLock;

use datafusion::common::ScalarValue;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::Documentation;

use super::{DOC_SECTION_HTTP, HttpRequest, text_argument};
use nodefusion_function::CallError;

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

/// The request of `http_get`.
#[derive(Debug)]
pub struct HttpGet;

impl HttpRequest for HttpGet {
    const NAME: &'static str = "http_get";
    const PARAMETERS: &'static [&'static str] = &["url"];

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }

    fn request(
        client: &reqwest::Client,
        args: &[ScalarValue],
    ) -> Result<reqwest::RequestBuilder, CallError> {
        let [url] = take_function_args(Self::NAME, args)?;
        Ok(client.get(text_argument(url, "url")?))
    }
}
