//! nodefusion's own physical operators: [`NodeExec`] runs stateful and async nodes; a
//! pipeline's nodes run in parallel between a
//! [`ScatterExec`] and a [`GatherExec`] while the output keeps the input's row order:
//!
//! ```text
//! GatherExec            N partitions -> 1, batches taken back in round-robin order
//!   ProjectionExec ...  one per node (NodeExec for stateful and async nodes), run on
//!                       every partition, one batch in and one batch out
//!     ScatterExec       1 partition -> N, batch i to partition i % N
//!       RechunkExec     batches of exactly batch_size rows (the last may be shorter)
//!         scan
//! ```
//!
//! [`CommitExec`] moves what a file sink wrote aside into place once it is complete.

mod batch_tuner;
mod cache;
mod calls;
mod commit;
mod executor_sharing;
mod first_failure;
mod gather;
mod idle_instances;
mod instances;
mod node;
mod node_expression;
mod rechunk;
mod scatter;

use std::sync::Arc;

use datafusion::common::{Result, internal_err};
use datafusion::physical_plan::ExecutionPlan;

pub(crate) use cache::{CacheKey, ResultCache};
pub use commit::CommitExec;
pub use executor_sharing::share_across_tasks;
pub use first_failure::FirstFailure;
pub use gather::GatherExec;
pub use node::{NodeExec, NodeSpec, TUNED_BATCH_SIZE};
pub use node_expression::NodeExpression;
pub use rechunk::{RechunkExec, rechunk_stream};
pub use scatter::ScatterExec;

/// The one child of a single-input operator, or an internal error naming `operator`.
pub(crate) fn only_child(
    operator: &str,
    children: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    match <[_; 1]>::try_from(children) {
        Ok([child]) => Ok(child),
        Err(children) => internal_err!("{operator} takes one input, got {}", children.len()),
    }
}
