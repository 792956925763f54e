//! nodefusion: a dataflow engine on Apache Arrow. Pipelines of nodes (functions wired by
//! column name) compile into DataFusion plans in which every node is a vectorized function
//! over Arrow record batches; the same functions are available in SQL.
//!
//! - [`pipeline`]: the pipeline model and its validation;
//! - [`compile`]: pipelines into DataFusion logical and physical plans;
//! - [`plan`] and [`exec`]: nodefusion's own plan nodes and operators;
//! - [`io`]: inputs (files, object stores, record batches) and Parquet outputs;
//! - [`run`]: running into an output, with progress and a summary;
//! - [`config`]: pipeline files (TOML) and `--set` overrides;
//! - [`explain`]: the DAG as text and Mermaid, and the plans;
//! - [`session`]: a DataFusion session with every nodefusion function registered;
//! - [`datagen`]: the deterministic sample-document generator.

pub mod compile;
pub mod config;
pub mod datagen;
pub mod error;
pub mod exec;
pub mod explain;
pub mod io;
pub mod pipeline;
pub mod plan;
pub mod run;
pub mod session;
pub mod settings;

pub use compile::CompiledPipeline;
pub use error::{Error, Result};
pub use io::{FileFormat, Input, Output, WriteMode};
pub use pipeline::{Node, Pipeline};
pub use run::RunSummary;
pub use session::new_context;
