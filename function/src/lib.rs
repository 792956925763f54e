//! `nodefusion-function`: the function model, what a crate that writes nodefusion functions
//! depends on. Every kind of function ends up as a DataFusion `ScalarUDF`, so a function
//! works the same in SQL and in pipelines:
//!
//! | kind | written as |
//! | --- | --- |
//! | vectorized | [`UserFunction::vectorized`]: `Fn(&[ArrayRef]) -> Result<ArrayRef>` |
//! | row-wise | [`UserFunction::row`]: a closure such as `\|s: &str\| s.to_lowercase()` |
//! | built-in | a `ScalarUDFImpl` whose kernel goes through [`invoke_kernel`] |
//! | stateful | [`stateful`] or a [`StatefulFunction`]: `init` once, `process` per batch |
//! | async | [`async_per_row`], [`async_per_batch`] or their traits: I/O, many calls in flight |
//! | isolated | an [`IsolatedFunction`]: instances on threads or processes of their own (Python) |
//!
//! Stateful and async functions run in nodefusion's node operator (see [`operator`]).
//! [`arrays`] gives typed views of the arrays functions take; [`testing`] calls a function
//! the way DataFusion does, for tests.
//!
//! [`ArrayRef`]: datafusion::arrow::array::ArrayRef

mod arguments;
pub mod arrays;
pub mod calls;
mod closures;
mod documentation;
mod isolated;
pub mod operator;
mod row;
mod string_arguments;
pub mod testing;
mod user;

pub use arguments::{ScalarArguments, invoke_kernel};
pub use closures::{async_per_batch, async_per_row, stateful};
pub use documentation::{
    DOC_SECTION_EMBEDDING, DOC_SECTION_TEXT, DOC_SECTION_USER, DOC_SECTION_VECTOR, describe,
};
pub use isolated::{Computed, IsolatedFunction, IsolatedInstance, IsolationOptions, RowFailure};
pub use operator::{
    AsyncBatchFunction, AsyncRowFunction, CallError, FunctionInstance, FunctionMeta, InitOptions,
    OperatorFunction, StatefulFunction, operator_function, skips_row,
};
pub use row::{RowArgument, RowFn, RowOutput};
pub use string_arguments::{coerce_string_arguments, string_argument_type};
pub use user::{Kernel, UserFunction};
