//! Node settings and their layers. Every setting is declared once ([`declaration`]);
//! [`resolve`] applies the layers, highest first:
//!
//! 1. the node's own settings (pipeline file or code);
//! 2. the defaults of the pipelines it is in, innermost first (`[defaults]`, `--set`);
//! 3. the session's options: `SET nodefusion.embed.batch_size = 32` for one function, then
//!    `SET nodefusion.batch_size = 256` for all ([`SessionOptions`]);
//! 4. the function's own preference (an embedding model's batch size);
//! 5. the built-in values.

mod batch_size;
mod builders;
mod declaration;
mod defaults;
mod node_settings;
mod precision;
mod resolve;
mod session;
mod value;

use std::time::Duration;

pub use batch_size::{AUTO_BATCH_ROWS, BatchSize};
pub use builders::SettingArgument;
pub(crate) use builders::define_setting_builders;
pub(crate) use declaration::with_node_settings;
pub use defaults::PipelineDefaults;
pub use node_settings::{
    NodeSettings, RunSettings, SETTINGS, SettingDoc, SettingError, settings_table,
};
pub use precision::Precision;
pub use resolve::resolve;
pub use session::SessionOptions;
pub use value::{CacheMode, Isolation, MAX_BATCH_SIZE, OnError, SettingValue, Usd};

/// The built-in rows per batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;
/// The built-in number of async calls in flight per node.
pub const DEFAULT_ASYNC_CONCURRENCY: usize = 16;

impl RunSettings {
    /// The most time one async call may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}
