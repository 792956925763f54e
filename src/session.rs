//! A DataFusion session ready for nodefusion: every nodefusion function registered, the
//! node operator for stateful and async functions in SQL (the [`LiftNodeCalls`] rule and
//! nodefusion's planner), the `nodefusion.*` session options, files queryable by path
//! (`SELECT * FROM 'data/docs.parquet'`), one partition per core.

use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;
pub use crate::plan::{LiftNodeCalls, NodefusionQueryPlanner};
use crate::settings::SessionOptions;

/// Adds every nodefusion function, scalar and table, to a user's own `ctx`. The same as
/// [`nodefusion_udfs::register_all`].
pub fn register_functions(ctx: &SessionContext) -> Result<()> {
    Ok(nodefusion_udfs::register_all(ctx)?)
}

/// A new session with every nodefusion feature.
pub fn new_context() -> Result<SessionContext> {
    new_context_with_config(SessionConfig::new())
}

/// `config` with what nodefusion needs: the information schema and the `nodefusion.*`
/// options (kept if `config` has them already).
pub fn nodefusion_config(config: SessionConfig) -> SessionConfig {
    let config = config.with_information_schema(true);
    if config
        .options()
        .extensions
        .get::<SessionOptions>()
        .is_some()
    {
        return config;
    }
    config.with_option_extension(SessionOptions::default())
}

/// A new session with every nodefusion feature, from a user's own configuration.
pub fn new_context_with_config(config: SessionConfig) -> Result<SessionContext> {
    let config = nodefusion_config(config);
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_query_planner(Arc::new(NodefusionQueryPlanner::default()))
        .build();
    let ctx = SessionContext::new_with_state(state).enable_url_table();
    ctx.add_analyzer_rule(Arc::new(LiftNodeCalls));
    register_functions(&ctx)?;
    Ok(ctx)
}
