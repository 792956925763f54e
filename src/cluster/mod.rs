//! Running on an Apache DataFusion Ballista cluster: the scheduler and executor processes
//! (with every nodefusion function, option and codec), [`connect`] for a client session
//! (SQL: the logical plan travels), [`cluster_runner`] for pipelines (the compiled physical
//! plan travels, [`spread`] over the executors, the rows come back to the local sink), and
//! the plan codecs that carry
//! nodefusion's plan nodes and operators between them.

mod address;
mod connect;
mod executor;
mod job;
mod logical_codec;
mod messages;
mod node_figures;
mod part_writer;
mod physical_codec;
mod pipeline;
mod scheduler;
mod session;
mod spread;
mod submit;

pub use address::reach_scheduler;
pub use connect::connect;
pub use executor::{ExecutorOptions, run_executor};
pub use job::ClusterJobExec;
pub use logical_codec::NodefusionLogicalCodec;
pub use part_writer::PartWriterExec;
pub use physical_codec::NodefusionPhysicalCodec;
pub use pipeline::cluster_runner;
pub use scheduler::{SchedulerOptions, run_scheduler};
pub use session::{cluster_config, cluster_state, with_cluster_codecs};
pub use spread::{NodeOperatorsSent, PlanSent, spread, spread_writing};
pub use submit::{FinishedJob, cancel_waited_jobs, run_job};
