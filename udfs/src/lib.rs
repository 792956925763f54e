//! `nodefusion-udfs`: the nodefusion function model and its built-in function library.
//!
//! - [`function`] holds the function model: a user's functions over whole Arrow arrays or
//!   row-wise closures lifted into vectorized ones ([`function::UserFunction`]), and the
//!   argument dispatch every function shares.
//! - [`text`], [`vector`], [`embedding`] and [`http`] are the families of built-in functions, one function
//!   per file, each with its own documentation;
//! - [`models`] finds model directories by name.
//!
//! A user adds every built-in to their own DataFusion context with one call:
//!
//! ```
//! use datafusion::prelude::SessionContext;
//!
//! let mut ctx = SessionContext::new();
//! nodefusion_udfs::register_all(&mut ctx).unwrap();
//! ```

pub mod arrays;
pub mod embedding;
pub mod function;
pub mod http;
pub mod models;
pub mod text;
pub mod vector;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;

/// Every built-in nodefusion function, ready to register.
pub fn all_functions() -> Vec<Arc<ScalarUDF>> {
    text::functions()
        .into_iter()
        .chain(vector::functions())
        .chain(embedding::functions())
        .chain(http::functions())
        .collect()
}

/// Registers every built-in nodefusion function in `registry` (a `SessionContext` or a
/// `SessionState`), replacing functions of the same name.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for function in all_functions() {
        registry.register_udf(function)?;
    }
    Ok(())
}
