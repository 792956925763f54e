//! The runtime the package's calls run on, and [`wait`]: a call from Python blocks on it
//! without holding the interpreter (so that Python nodes can run meanwhile) and stops
//! promptly on Ctrl-C.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How often a waiting call looks for a signal (Ctrl-C) to Python.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// The runtime, or why it could not start; built once, by the first caller, while any
/// other waits (two built at once, the one not kept would be dropped where a node's task
/// runs, which Tokio forbids).
static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The package's multi-threaded Tokio runtime, started on first use.
pub fn runtime() -> PyResult<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("nodefusion")
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|error| PyRuntimeError::new_err(format!("cannot start the runtime: {error}")))
}

/// Runs `future` to its end on the runtime, detached from the interpreter; every
/// [`SIGNAL_CHECK`] it lets Python handle signals, and a `KeyboardInterrupt` (or any error
/// a signal handler raises) drops the future, which cancels what it started.
pub fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime()?;
    py.detach(|| {
        runtime.block_on(async {
            tokio::pin!(future);
            loop {
                tokio::select! {
                    output = &mut future => return Ok(output),
                    () = tokio::time::sleep(SIGNAL_CHECK) => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}
