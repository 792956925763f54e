//! nodefusion's pieces of a DataFusion plan: the logical [`ExchangeNode`] that marks where
//! batches are re-cut, scattered over partitions and gathered back, the [`NodeCallNode`]
//! of stateful and async functions and the [`LiftNodeCalls`] rule that puts SQL's calls in
//! it, the planner that turns both into the operators of [`crate::exec`], and the partition
//! values of a Hive-partitioned write.

mod exchange;
mod hive_partitions;
mod lift;
mod node_call;
mod planner;

pub use exchange::{Exchange, ExchangeNode};
pub use hive_partitions::hive_partition_values;
pub use lift::{LiftNodeCalls, LiftedCalls};
pub use node_call::NodeCallNode;
pub use planner::NodefusionQueryPlanner;
