//! Isolated functions ([`IsolatedFunction`]): functions whose instances compute away from
//! the async runtime, each on a thread or in a process of its own (Python nodes). Like a
//! stateful function, an instance is built once and then called per batch; unlike one,
//! both are awaited, so that no worker of the runtime waits while an instance computes
//! (or, for Python, while it waits for the interpreter's lock).
//!
//! A call returns the batch's values and the rows it failed on ([`Computed`]), so that a
//! function that calls its code row by row names the failing rows itself instead of the
//! operator calling it again one row at a time. A function may keep its instances between
//! runs (`init` then hands one back, [`IsolatedInstance::reused`]).

use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::common::Result;

use crate::operator::{FunctionMeta, InitOptions};

/// A row a call failed on: the row of the call's arrays, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    /// The row, counted from 0 in the call's arrays.
    pub row: usize,
    /// Why it failed.
    pub message: String,
}

/// What a call of an isolated instance computed: one value per row (null where it failed)
/// and the rows it failed on, in row order.
#[derive(Debug, Clone)]
pub struct Computed {
    /// The values.
    pub values: ArrayRef,
    /// The rows that failed; their values are null.
    pub failures: Vec<RowFailure>,
}

impl From<ArrayRef> for Computed {
    /// Values without failures.
    fn from(values: ArrayRef) -> Self {
        Self {
            values,
            failures: Vec::new(),
        }
    }
}

/// The node settings an isolated instance is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationOptions {
    /// The node's name (for the instance's thread or process and its messages).
    pub node: String,
    /// Whether the instance computes in a worker process of its own (`isolation =
    /// "process"`) rather than on a thread of this process.
    pub process: bool,
    /// The node's `max_concurrency`, for a function whose calls overlap inside one instance
    /// ([`IsolatedFunction::concurrent_calls`]).
    pub max_concurrency: Option<usize>,
    /// The most time one such call may take.
    pub timeout: Duration,
    /// How often such a call that timed out or failed to connect is tried again.
    pub max_retries: u32,
}

/// A function whose instances compute on a thread or in a process of their own.
#[async_trait]
pub trait IsolatedFunction: FunctionMeta {
    /// Builds an instance for calls with the constant arguments `options`, with the
    /// node's settings `isolation`.
    async fn init(
        &self,
        options: &InitOptions,
        isolation: &IsolationOptions,
    ) -> Result<Box<dyn IsolatedInstance>>;

    /// Whether `max_concurrency` counts calls in flight inside one instance (an async
    /// Python function: one event loop, rows overlapping) rather than instances; the
    /// operator then builds one instance for the node.
    fn concurrent_calls(&self) -> bool {
        false
    }

    /// Where the function's code comes from, for `explain`: `python steps.py:shout`.
    fn origin(&self) -> String;
}

/// One instance of an isolated function, owned by one partition at a time.
#[async_trait]
pub trait IsolatedInstance: Send {
    /// Computes one batch: every argument as an array of the batch's length.
    async fn process(&mut self, args: &[ArrayRef]) -> Result<Computed>;

    /// Releases the thread or process; called once when the operator is done with the
    /// instance at the end of a run (an instance dropped without it must release them too).
    /// The function may keep the instance for its next runs instead.
    async fn teardown(&mut self) -> Result<()> {
        Ok(())
    }

    /// Whether the function kept this instance from a run before rather than building it:
    /// not counted among the instances built.
    fn reused(&self) -> bool {
        false
    }
}
