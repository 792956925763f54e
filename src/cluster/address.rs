//! [`scheduler_address`]: a cluster URL (`df://HOST:PORT`) as the scheduler's gRPC address.

use url::Url;

use crate::error::{Error, Result};

/// The port of a scheduler when a URL gives none (Ballista's).
const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// The gRPC address (`http://HOST:PORT`) of the scheduler `url` (`df://HOST[:PORT]`) names.
pub fn scheduler_address(url: &str) -> Result<String> {
    let bad = |message: &str| Error::Cluster {
        address: url.to_string(),
        message: format!("{message}; a cluster is named df://HOST:PORT"),
    };
    let parsed = Url::parse(url).map_err(|error| bad(&error.to_string()))?;
    if parsed.scheme() != "df" {
        return Err(bad(&format!(
            "the scheme is '{}', not 'df'",
            parsed.scheme()
        )));
    }
    let host = parsed
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| bad("no host"))?;
    let port = parsed.port().unwrap_or(DEFAULT_SCHEDULER_PORT);
    Ok(format!("http://{host}:{port}"))
}
