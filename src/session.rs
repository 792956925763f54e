//! A DataFusion session ready for nodefusion: every nodefusion function registered, files
//! queryable by path (`SELECT * FROM 'data/docs.parquet'`), one partition per core.

use datafusion::execution::FunctionRegistry;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;

/// Adds every nodefusion function to `registry` (a user's own `SessionContext` or
/// `SessionState`). The same as [`nodefusion_udfs::register_all`].
pub fn register_functions(registry: &mut dyn FunctionRegistry) -> Result<()> {
    Ok(nodefusion_udfs::register_all(registry)?)
}

/// A new session with every nodefusion function registered and files queryable by path.
pub fn new_context() -> Result<SessionContext> {
    let config = SessionConfig::new().with_information_schema(true);
    let mut ctx = SessionContext::new_with_config(config).enable_url_table();
    register_functions(&mut ctx)?;
    Ok(ctx)
}
