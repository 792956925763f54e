//! `nodefusion._native`, the extension module of the Python package `nodefusion`
//! (`python/nodefusion/` is its Python side). Everything is behind the `python` feature,
//! which maturin turns on; the workspace's own builds compile none of it.
//!
//! - SQL: [`session::NativeSession`] and [`dataframe::NativeDataFrame`] (Arrow in and out by
//!   the PyCapsule interface, [`arrow`]);
//! - pipelines: [`pipeline::NativePipeline`], built from Python nodes or read from a file;
//! - Python nodes: [`python_function::PythonFunction`], an isolated node function whose
//!   instances run on a thread of their own ([`thread_instance`], on the pool of
//!   [`python_threads`], through the Python [`runner`]) or in a worker process
//!   ([`process_instance`], on the pool of [`worker_processes`], [`worker_messages`]),
//!   kept between runs ([`kept_instances`]);
//!   pipeline files' `python = ...` nodes are imported by [`loader`];
//! - the `nodefusion` command ([`cli`]); calls wait on the package's runtime detached from
//!   the interpreter, Ctrl-C stopping them ([`runtime`]); errors as exceptions ([`errors`]).
#![cfg(feature = "python")]

mod arrow;
mod cli;
mod dataframe;
mod errors;
mod kept_instances;
mod loader;
mod pipeline;
mod process_instance;
mod python_function;
mod python_threads;
mod runner;
mod runtime;
mod session;
mod summary;
mod thread_instance;
mod worker_messages;
mod worker_processes;

use pyo3::prelude::*;

/// mimalloc, as in the `nodefusion` binary: the model's large intermediate tensors are
/// allocated and freed on every batch, which glibc's malloc serves with fresh, page-faulting
/// mappings each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The module: its classes and functions, and the importer of pipeline files' Python nodes.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    nodefusion::install_python_functions(Box::new(loader::PythonImporter));
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add("NodefusionError", py.get_type::<errors::NodefusionError>())?;
    module.add("NodeError", py.get_type::<errors::NodeError>())?;
    module.add_class::<session::NativeSession>()?;
    module.add_class::<dataframe::NativeDataFrame>()?;
    module.add_class::<pipeline::NativePipeline>()?;
    module.add_class::<runner::CancelFlag>()?;
    module.add_function(wrap_pyfunction!(cli::run_command, module)?)?;
    module.add_function(wrap_pyfunction!(python_threads::join_threads, module)?)?;
    Ok(())
}
