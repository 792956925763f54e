//! The session every process of a cluster plans and runs with: Ballista's configuration,
//! nodefusion's codecs and `nodefusion.*` options, and (where plans are made) every
//! nodefusion function, the `LiftNodeCalls` rule and nodefusion's planner.

use std::sync::Arc;

use ballista::prelude::SessionConfigExt;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;

use super::{NodefusionLogicalCodec, NodefusionPhysicalCodec};
use crate::io::LazyObjectStores;
use crate::session::{NodefusionQueryPlanner, new_context_with_config, nodefusion_config};

/// `config` with nodefusion's codecs and session options. Only key/values travel between
/// a cluster's processes; the codecs and the option extension must be in each process's
/// own configuration, which this makes.
pub fn with_cluster_codecs(config: SessionConfig) -> SessionConfig {
    nodefusion_config(
        config
            .with_ballista_logical_extension_codec(Arc::new(NodefusionLogicalCodec::default()))
            .with_ballista_physical_extension_codec(Arc::new(NodefusionPhysicalCodec::default())),
    )
}

/// The configuration a cluster's processes start from: Ballista's, with nodefusion's.
pub fn cluster_config() -> SessionConfig {
    with_cluster_codecs(SessionConfig::new_with_ballista())
}

/// A session state that plans and runs nodefusion's plans, from `config` (the scheduler's
/// sessions, and the function registry of executors), reading any object store URL.
pub fn cluster_state(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    let ctx = new_context_with_config(with_cluster_codecs(config))
        .map_err(|error| DataFusionError::External(Box::new(error)))?;
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(LazyObjectStores::default()))
        .build_arc()?;
    Ok(SessionStateBuilder::new_from_existing(ctx.state())
        .with_runtime_env(runtime)
        .with_query_planner(Arc::new(NodefusionQueryPlanner::for_cluster()))
        .build())
}
