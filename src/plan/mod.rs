//! nodefusion's pieces of a DataFusion plan: the logical [`ExchangeNode`] that marks where
//! batches are re-cut, scattered over partitions and gathered back, the [`NodeCallNode`]
//! of stateful and async functions and the [`LiftNodeCalls`] rule that puts SQL's calls in
//! it, the planner that turns both into the operators of [`crate::exec`], the partition
//! values of a Hive-partitioned write, `COPY` written aside and committed, and the rule
//! that evaluates SQL's projections with fused calls.

mod columns_to_write;
mod exchange;
mod fused_calls;
mod lift;
mod node_call;
mod planner;
mod staged_copy;

pub use columns_to_write::{columns_to_write, plain_columns};
pub use exchange::{Exchange, ExchangeNode};
pub use fused_calls::FuseCalls;
pub use lift::{LiftNodeCalls, LiftedCalls};
pub use node_call::NodeCallNode;
pub use planner::NodefusionQueryPlanner;
use staged_copy::plan_copy;
