//! [`ThreadInstance`]: an instance of a Python node on a thread of its own, taken from the
//! pool of [`PythonThread`]s: the node's runner is built there (a stateful class's
//! `__init__` runs on it; a function's runner is built with its first batch's lock), each
//! batch is computed there, and the operator awaits the reply. Torn down, the runner is
//! closed (awaited for a stateful object, whose `close` must run before the run returns)
//! and the thread goes back to the pool; dropped in the middle of a run (cancelled), the
//! runner stops at its next row, its Python code is interrupted, and the thread ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, exec_datafusion_err};
use nodefusion_function::{Computed, IsolatedInstance, IsolationOptions};
use pyo3::prelude::*;
use tokio::sync::oneshot;

use crate::arrow::plain;
use crate::python_threads::{PythonThread, Task};

/// An instance of a Python node on a thread of its own.
pub struct ThreadInstance {
    node: String,
    stateful: bool,
    thread: Option<PythonThread>,
    cancel: Arc<AtomicBool>,
}

impl ThreadInstance {
    /// An instance of `node` (a `nodefusion.Node`; `stateful`: a class) on a thread of the
    /// pool; a stateful node's runner is built before it returns.
    pub async fn start(
        node: Arc<Py<PyAny>>,
        stateful: bool,
        isolation: IsolationOptions,
    ) -> Result<Self> {
        let thread = PythonThread::take()?;
        let cancel = Arc::new(AtomicBool::new(false));
        let name = isolation.node.clone();
        let (built, started) = oneshot::channel();
        thread.send(Task::Start {
            node,
            isolation,
            cancel: Arc::clone(&cancel),
            built: stateful.then_some(built),
        })?;
        let instance = Self {
            node: name,
            stateful,
            thread: Some(thread),
            cancel,
        };
        if stateful {
            started
                .await
                .map_err(|_| exec_datafusion_err!("its Python thread stopped while starting"))??;
        }
        Ok(instance)
    }
}

#[async_trait]
impl IsolatedInstance for ThreadInstance {
    async fn process(&mut self, args: &[ArrayRef]) -> Result<Computed> {
        let arguments = args.iter().map(plain).collect::<Result<Vec<_>, _>>()?;
        let (reply, replied) = oneshot::channel();
        let gone = || exec_datafusion_err!("node '{}': its Python thread stopped", self.node);
        let thread = self.thread.as_ref().ok_or_else(gone)?;
        thread.send(Task::Batch { arguments, reply })?;
        replied.await.map_err(|_| gone())?
    }

    async fn teardown(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let (closed, was_closed) = oneshot::channel();
        thread.send(Task::End {
            closed: self.stateful.then_some(closed),
        })?;
        if self.stateful {
            let _ = was_closed.await;
        }
        thread.put_back();
        Ok(())
    }
}

impl Drop for ThreadInstance {
    /// Not torn down (a cancelled run): the runner stops at its next row, the function's
    /// Python code is interrupted, and the thread ends once the runner is closed.
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.cancel.store(true, Ordering::SeqCst);
        thread.interrupt();
        let _ = thread.send(Task::End { closed: None });
    }
}
