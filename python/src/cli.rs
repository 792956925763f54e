//! The `nodefusion` command of the package: the Rust command line run in this interpreter,
//! so that pipeline files' Python nodes import from the user's environment.

use pyo3::prelude::*;

/// Runs the command line `args` (the program's name first) and returns its exit code.
#[pyfunction]
pub fn run_command(py: Python<'_>, args: Vec<String>) -> u8 {
    py.detach(|| nodefusion::command::main(args))
}
