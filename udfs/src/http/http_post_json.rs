//! `http_post_json(url, body)`: POST a JSON document; `{status, body}`.

use std::sync::LazyLock;

use datafusion::common::ScalarValue;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::Documentation;

use super::{DOC_SECTION_HTTP, HttpRequest, text_argument};
use nodefusion_function::CallError;

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

/// The request of `http_post_json`.
#[derive(Debug)]
pub struct HttpPostJson;

impl HttpRequest for HttpPostJson {
    const NAME: &'static str = "http_post_json";
    const PARAMETERS: &'static [&'static str] = &["url", "body"];

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }

    fn request(
        client: &reqwest::Client,
        args: &[ScalarValue],
    ) -> Result<reqwest::RequestBuilder, CallError> {
        let [url, body] = take_function_args(Self::NAME, args)?;
        let (url, body) = (text_argument(url, "url")?, text_argument(body, "body")?);
        serde_json::from_str::<serde_json::Value>(body)
            .map_err(|error| CallError::permanent(format!("body is not JSON: {error}")))?;
        Ok(client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string()))
    }
}
