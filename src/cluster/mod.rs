//! Running on an Apache DataFusion Ballista cluster: the scheduler and executor processes
//! (with every nodefusion function, option and codec), [`connect`] for a client session,
//! and the plan codecs that carry nodefusion's plan nodes and operators between them.

mod connect;
mod executor;
mod logical_codec;
mod messages;
mod physical_codec;
mod scheduler;
mod session;

pub use connect::connect;
pub use executor::{ExecutorOptions, run_executor};
pub use logical_codec::NodefusionLogicalCodec;
pub use physical_codec::NodefusionPhysicalCodec;
pub use scheduler::{SchedulerOptions, run_scheduler};
pub use session::{cluster_config, cluster_state, with_cluster_codecs};
