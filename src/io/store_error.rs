//! [`store_error`]: an object store's failure as an [`Error`] that names the URL and says
//! what is wrong in the words a user acts on: no such bucket, no such object, access denied,
//! the endpoint out of reach; [`store_failure`] finds such a failure inside DataFusion's
//! errors.

use std::error::Error as _;

use datafusion::error::DataFusionError;

use crate::error::Error;

/// `error`, met while working on `url`, said plainly.
pub fn store_error(url: impl Into<String>, error: &object_store::Error) -> Error {
    Error::Store {
        url: url.into(),
        message: describe(error),
    }
}

/// What went wrong, from the error and the text of its causes.
pub fn describe(error: &object_store::Error) -> String {
    let mut chain = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        chain.push_str(": ");
        chain.push_str(&current.to_string());
        cause = current.source();
    }
    let has = |needle: &str| chain.contains(needle);
    if has("NoSuchBucket") || has("bucket does not exist") {
        "no such bucket".to_string()
    } else if matches!(error, object_store::Error::NotFound { .. }) || has("NoSuchKey") {
        "no such object".to_string()
    } else if matches!(
        error,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || has("AccessDenied")
        || has("InvalidAccessKeyId")
        || has("SignatureDoesNotMatch")
        || has("403 Forbidden")
    {
        let detail = last_line(&chain);
        let detail = match detail.is_empty() {
            true => String::new(),
            false => format!(": {detail}"),
        };
        format!(
            "access denied: the store refused these credentials (for S3 the variables \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY){detail}"
        )
    } else if has("error sending request")
        || has("Connection refused")
        || has("dns error")
        || has("connect")
        || has("timed out")
    {
        format!(
            "cannot reach the store's endpoint (for S3 the variable AWS_ENDPOINT, else the \
             provider's own); gave up after {} tries: {}",
            super::object_store_for::STORE_RETRIES + 1,
            last_line(&chain)
        )
    } else {
        chain
    }
}

/// What an object store said went wrong, where `error` (from DataFusion) comes from one.
pub fn store_failure(error: &DataFusionError) -> Option<String> {
    match error.find_root() {
        DataFusionError::ObjectStore(error) => Some(describe(error)),
        _ => None,
    }
}

/// The detail of a `: `-joined chain of causes: the message of the store's XML answer, else
/// the innermost cause.
fn last_line(chain: &str) -> &str {
    let message = chain
        .split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map(|(message, _)| message);
    message.unwrap_or_else(|| chain.rsplit(": ").next().unwrap_or(chain).trim())
}
