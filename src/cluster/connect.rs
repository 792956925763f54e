//! [`connect`]: a session whose queries run on a cluster.

use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;

use super::address::reach_scheduler;
use super::session::cluster_config;
use crate::error::{Error, Result};
use crate::session::{LiftNodeCalls, register_functions};

/// A session whose queries run on the cluster whose scheduler is at `url`
/// (`df://HOST:PORT`): every nodefusion function, option and codec, as in
/// [`crate::new_context`]. Functions are registered after connecting (connecting replaces
/// the session's functions with Ballista's).
pub async fn connect(url: &str) -> Result<SessionContext> {
    let cluster_error = |message: String| Error::Cluster {
        address: url.to_string(),
        message,
    };
    reach_scheduler(url).await?;
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(cluster_config())
        .build();
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .map_err(|error| cluster_error(error.strip_backtrace()))?;
    ctx.add_analyzer_rule(Arc::new(LiftNodeCalls));
    register_functions(&ctx)?;
    Ok(ctx.enable_url_table())
}
