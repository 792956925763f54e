//! `nodefusion-udfs`: the built-in nodefusion functions, written on the function model of
//! `nodefusion-function` and the models of `nodefusion-model`.
//!
//! - [`text`], [`vector`], [`embedding`], [`http`] and [`remote`] are the families of built-in
//!   functions, one function per file, each with its own documentation;
//! - [`retrieval`] holds the table function `top_k`.
//!
//! A user adds every built-in to their own DataFusion context with one call:
//!
//! ```
//! use datafusion::prelude::SessionContext;
//!
//! let ctx = SessionContext::new();
//! nodefusion_udfs::register_all(&ctx).unwrap();
//! ```

pub mod embedding;
pub mod http;
mod model_error;
#[cfg(test)]
mod properties;
pub mod remote;
pub mod retrieval;
pub mod text;
pub mod vector;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

/// Every built-in nodefusion function, ready to register.
pub fn all_functions() -> Vec<Arc<ScalarUDF>> {
    text::functions()
        .into_iter()
        .chain(vector::functions())
        .chain(embedding::functions())
        .chain(http::functions())
        .chain(remote::functions())
        .collect()
}

/// Every built-in nodefusion table function (`top_k`), by name.
pub fn all_table_functions() -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    retrieval::table_functions()
}

/// Registers every built-in nodefusion function, scalar and table, in `ctx`, replacing
/// functions of the same name.
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    for function in all_functions() {
        ctx.register_udf(function.as_ref().clone());
    }
    for (name, function) in all_table_functions() {
        ctx.register_udtf(name, function);
    }
    Ok(())
}
