//! [`reach_scheduler`]: a cluster URL (`df://HOST:PORT`) checked and reached, as the
//! scheduler's gRPC address.

use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};

/// The port of a scheduler when a URL gives none (Ballista's).
const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long reaching the scheduler may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The gRPC address (`http://HOST:PORT`) of the scheduler `url` (`df://HOST[:PORT]`)
/// names, once a connection to it has been made: a scheduler out of reach is an error
/// naming its address, before any work starts.
pub async fn reach_scheduler(url: &str) -> Result<String> {
    let failure = |message: String| Error::Cluster {
        address: url.to_string(),
        message,
    };
    let bad = |message: &str| failure(format!("{message}; a cluster is named df://HOST:PORT"));
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
    let unreachable = |reason: String| {
        failure(format!(
            "cannot reach the scheduler: {reason} (is `nodefusion cluster scheduler` running there?)"
        ))
    };
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(format!("http://{host}:{port}")),
        Ok(Err(error)) => Err(unreachable(error.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}
