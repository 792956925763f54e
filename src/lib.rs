//! nodefusion: a dataflow engine on Apache Arrow. Pipelines of nodes (functions wired by
//! column name) compile into DataFusion plans in which every node is a vectorized function
//! over Arrow record batches; the same functions are available in SQL.
//!
//! The public surface: [`Pipeline`] and [`Node`] (the model), [`Input`] and [`Output`],
//! [`CompiledPipeline`] (validated and planned, ready to run), [`RunSummary`], [`Error`],
//! [`new_context`]; [`settings`] (the node settings, declared once), [`config`] (pipeline
//! files), [`explain`], [`session`], [`datagen`] and [`command`] (the `nodefusion`
//! command). Functions are written with the function model of `nodefusion-function`; the
//! built-ins are in `nodefusion-udfs`; Python nodes come from the Python package
//! (`python/`), which installs [`PythonFunctions`].
//!
//! Inside, the engine flows one way (ARCHITECTURE.md has the map): `settings` and `error` ->
//! `pipeline` (the model, and the graph of resolved nodes) -> `compile` (logical and
//! physical plans, with `plan`'s nodes and `exec`'s operators) -> `run` (into an output,
//! with a summary).

// The command's modules (`cli`) name the library `nodefusion`, as a program using it does.
extern crate self as nodefusion;

mod cli;
pub mod cluster;
pub mod command;
mod compile;
pub mod config;
pub mod datagen;
mod error;
mod exec;
pub mod explain;
mod io;
mod parts;
mod pipeline;
mod plan;
mod plan_cache;
mod run;
pub mod serve;
pub mod session;
pub mod settings;
mod state_cache;
mod units;

pub use compile::{CompiledPipeline, NodeOperators};
pub use error::{Error, FailedRow, NodeError, Result, ResultsLost};
pub use io::{
    DEFAULT_COMPRESSION, DEFAULT_ROW_GROUP_ROWS, FileFormat, Input, Location, Output, Staging,
    StoreLocation, WriteMode,
};
pub use parts::{PartReport, PartsTarget};
pub use pipeline::{
    Node, NodeBody, NodeKind, Pipeline, PipelineGraph, PythonBody, PythonFunction, PythonFunctions,
    ResolvedCall, ResolvedNode, install_python_functions,
};
pub use run::{ClusterRun, NodeTiming, PartsJob, RemoteRunner, RowsBack, RunSummary, ServiceUsage};
pub use session::new_context;
