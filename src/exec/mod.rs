//! nodefusion's own physical operators. A pipeline's nodes run in parallel between a
//! [`ScatterExec`] and a [`GatherExec`] while the output keeps the input's row order:
//!
//! ```text
//! GatherExec            N partitions -> 1, batches taken back in round-robin order
//!   ProjectionExec ...  one per node, run on every partition (one batch in, one out)
//!     ScatterExec       1 partition -> N, batch i to partition i % N
//!       RechunkExec     batches of exactly batch_size rows (the last may be shorter)
//!         scan
//! ```

mod gather;
mod rechunk;
mod scatter;

pub use gather::GatherExec;
pub use rechunk::{RechunkExec, Rechunker};
pub use scatter::ScatterExec;
