//! The function model: how a nodefusion function is written. Every kind ends up as a
//! DataFusion `ScalarUDF`, so a function works the same in SQL and in pipelines:
//!
//! | kind | written as |
//! | --- | --- |
//! | vectorized | [`UserFunction::vectorized`]: `Fn(&[ArrayRef]) -> Result<ArrayRef>` |
//! | row-wise | [`UserFunction::row`]: a closure such as `\|s: &str\| s.to_lowercase()` |
//! | built-in | a `ScalarUDFImpl` whose kernel goes through [`invoke_kernel`] |
//! | stateful | [`stateful`] or a [`StatefulFunction`]: `init` once, `process` per batch |
//! | async | [`async_per_row`], [`async_per_batch`] or their traits: I/O, many calls in flight |
//!
//! Stateful and async functions run in nodefusion's node operator (see [`node`]).

mod arguments;
mod closures;
mod documentation;
pub mod node;
mod row;
mod user;

pub use arguments::{ScalarArguments, invoke_kernel};
pub use closures::{async_per_batch, async_per_row, stateful};
pub use documentation::{
    DOC_SECTION_EMBEDDING, DOC_SECTION_TEXT, DOC_SECTION_USER, DOC_SECTION_VECTOR, describe,
};
pub use node::{
    AsyncBatchFunction, AsyncRowFunction, CallError, FunctionInstance, FunctionMeta, InitOptions,
    OperatorFunction, StatefulFunction, operator_function,
};
pub use row::{RowArgument, RowFn, RowOutput};
pub use user::{Kernel, UserFunction};

#[cfg(test)]
pub(crate) mod test_support;
