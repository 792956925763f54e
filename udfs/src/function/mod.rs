//! The function model: how a nodefusion function is written. Every kind ends up as a
//! DataFusion `ScalarUDF`, so a function works the same in SQL and in pipelines:
//!
//! | kind | written as |
//! | --- | --- |
//! | vectorized | [`UserFunction::vectorized`]: `Fn(&[ArrayRef]) -> Result<ArrayRef>` |
//! | row-wise | [`UserFunction::row`]: a closure such as `\|s: &str\| s.to_lowercase()` |
//! | built-in | a `ScalarUDFImpl` whose kernel goes through [`invoke_kernel`] |

mod arguments;
mod documentation;
mod row;
mod user;

pub use arguments::{ScalarArguments, invoke_kernel};
pub use documentation::{DOC_SECTION_TEXT, DOC_SECTION_USER, DOC_SECTION_VECTOR, describe};
pub use row::{RowArgument, RowFn, RowOutput};
pub use user::{Kernel, UserFunction};

#[cfg(test)]
pub(crate) mod test_support;
