//! A DataFusion session ready for nodefusion: every nodefusion function registered, the
//! node operator for stateful and async functions in SQL (the [`LiftNodeCalls`] rule and
//! nodefusion's planner), the fused forms of SQL's calls where they apply ([`FuseCalls`]),
//! the `nodefusion.*` session options, files queryable by path or URL
//! (`SELECT * FROM 'data/docs.parquet'`, `FROM 's3://bucket/in/*.parquet'`: object stores
//! are built from the environment on first use), one partition per core.

use std::sync::Arc;

use datafusion::catalog::DynamicFileCatalog;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_session::SessionStore;

use crate::error::Result;
use crate::io::{LazyObjectStores, UrlTables};
pub use crate::plan::{FuseCalls, LiftNodeCalls, NodefusionQueryPlanner};
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
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(LazyObjectStores::default()))
        .build_arc()?;
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_query_planner(Arc::new(NodefusionQueryPlanner::default()))
        .with_physical_optimizer_rules(physical_rules())
        .build();
    let tables = Arc::new(UrlTables::new(SessionStore::new()));
    let catalogs = Arc::new(DynamicFileCatalog::new(
        Arc::clone(state.catalog_list()),
        Arc::clone(&tables) as _,
    ));
    let ctx = SessionContext::new_with_state(
        SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(catalogs)
            .build(),
    );
    tables.session_store().with_state(ctx.state_weak_ref());
    ctx.add_analyzer_rule(Arc::new(LiftNodeCalls));
    register_functions(&ctx)?;
    Ok(ctx)
}

/// DataFusion's physical rules, after [`FuseCalls`].
fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> = vec![Arc::new(FuseCalls)];
    rules.extend(PhysicalOptimizer::new().rules);
    rules
}
