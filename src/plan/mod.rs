//! nodefusion's pieces of a DataFusion plan: the logical [`ExchangeNode`] that marks where
//! batches are re-cut, scattered over partitions and gathered back, and the planner that
//! turns it into the operators of [`crate::exec`].

mod exchange;
mod planner;

pub use exchange::{Exchange, ExchangeNode};
pub use planner::{NodefusionExtensionPlanner, NodefusionQueryPlanner};
