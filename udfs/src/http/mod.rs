//! HTTP functions: `http_get(url)` and `http_post_json(url, body)`, async per row, each
//! returning `{status: Int32, body: Utf8}` (so `r['status']` and `r['body']` work in SQL).
//! A 429 or 5xx answer, a timeout or a failed connection is a transient error, retried by
//! the node operator (honouring `Retry-After`); any other status is a result.

mod http_get;
mod http_post_json;

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{Int32Array, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{DocSection, Documentation, ScalarUDF, Signature, Volatility};

pub use http_get::HttpGet;
pub use http_post_json::HttpPostJson;

use nodefusion_function::calls::CallContext;
use nodefusion_function::{
    AsyncRowFunction, CallError, FunctionMeta, OperatorFunction, coerce_string_arguments,
};

/// Built-in HTTP functions.
pub const DOC_SECTION_HTTP: DocSection = DocSection {
    include: true,
    label: "nodefusion HTTP functions",
    description: None,
};

/// Every HTTP function.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(OperatorFunction::AsyncRow(Arc::new(HttpFunction::<HttpGet>::new())).into_udf()),
        Arc::new(
            OperatorFunction::AsyncRow(Arc::new(HttpFunction::<HttpPostJson>::new())).into_udf(),
        ),
    ]
}

/// One HTTP function: its name, parameters, documentation and the request it sends.
pub trait HttpRequest: Send + Sync + 'static {
    /// The SQL name.
    const NAME: &'static str;
    /// The parameter names; every argument is a string.
    const PARAMETERS: &'static [&'static str];
    /// The documentation `nodefusion functions` shows.
    fn documentation() -> &'static Documentation;
    /// The request for one row's arguments.
    fn request(
        client: &reqwest::Client,
        args: &[ScalarValue],
    ) -> Result<reqwest::RequestBuilder, CallError>;
}

/// The async per-row function sending `R`'s requests with one shared client.
pub struct HttpFunction<R> {
    signature: Signature,
    client: OnceLock<reqwest::Client>,
    request: PhantomData<R>,
}

impl<R: HttpRequest> HttpFunction<R> {
    /// The function, ready to wrap in a node function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Volatile)
                .with_parameter_names(R::PARAMETERS.to_vec())
                .expect("user-defined signatures take any parameter names"),
            client: OnceLock::new(),
            request: PhantomData,
        }
    }
}

impl<R: HttpRequest> Default for HttpFunction<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> std::fmt::Debug for HttpFunction<R>
where
    R: HttpRequest,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFunction")
            .field("name", &R::NAME)
            .finish()
    }
}

impl<R: HttpRequest> FunctionMeta for HttpFunction<R> {
    fn name(&self) -> &str {
        R::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_string_arguments(R::NAME, arg_types, R::PARAMETERS, R::PARAMETERS.len())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(response_type())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(R::documentation())
    }
}

#[async_trait]
impl<R: HttpRequest> AsyncRowFunction for HttpFunction<R> {
    async fn call(
        &self,
        args: &[ScalarValue],
        _return_type: &DataType,
        context: CallContext<'_>,
    ) -> Result<ScalarValue, CallError> {
        context.usage.requests.add(1);
        send(R::request(client(&self.client), args)?).await
    }
}

/// The fields of a response: `status` and `body`.
pub fn response_fields() -> Fields {
    Fields::from(vec![
        Field::new("status", DataType::Int32, false),
        Field::new("body", DataType::Utf8, true),
    ])
}

/// The type of a response.
pub fn response_type() -> DataType {
    DataType::Struct(response_fields())
}

fn response_value(status: i32, body: String) -> ScalarValue {
    let array = StructArray::new(
        response_fields(),
        vec![
            Arc::new(Int32Array::from(vec![status])),
            Arc::new(StringArray::from(vec![body])),
        ],
        None,
    );
    ScalarValue::Struct(Arc::new(array))
}

/// One client per function, shared by every call: connections are reused.
fn client(cell: &OnceLock<reqwest::Client>) -> &reqwest::Client {
    cell.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

/// The `Retry-After` of an answer, in seconds (the form rate limiters use).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

/// Sends `request` and turns the answer into a response value or a call error.
async fn send(request: reqwest::RequestBuilder) -> Result<ScalarValue, CallError> {
    let response = request
        .send()
        .await
        .map_err(|error| CallError::transient(error.to_string(), None))?;
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        let wait = retry_after(&response);
        return Err(CallError::transient(format!("HTTP {status}"), wait));
    }
    let body = response
        .text()
        .await
        .map_err(|error| CallError::transient(error.to_string(), None))?;
    Ok(response_value(i32::from(status.as_u16()), body))
}

/// The string value of an argument.
fn text_argument<'a>(value: &'a ScalarValue, name: &str) -> Result<&'a str, CallError> {
    value
        .try_as_str()
        .flatten()
        .ok_or_else(|| CallError::permanent(format!("{name} must be a string, got {value:?}")))
}
