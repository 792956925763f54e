//! [`ThreadInstance`]: an instance of a Python node on a thread of its own, taken from the
//! pool of [`PythonThread`]s: the node's runner is built there (a stateful class's
//! `__init__` runs on it; a function's runner is built with its first batch's lock), each
//! batch is computed there, and the operator awaits the reply. Torn down, the instance is
//! kept by its function for a later run ([`KeptInstances`]); closed, its runner is closed
//! (awaited for a stateful object) and the thread goes back to the pool. Dropped in the
//! middle of a run (cancelled), the runner stops at its next row, its Python code is
//! interrupted, and the thread ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, exec_datafusion_err};
use nodefusion_function::{Computed, IsolatedInstance, IsolationOptions};
use pyo3::prelude::*;
use tokio::sync::oneshot;

use crate::arrow::plain;
use crate::kept_instances::{KeptInstance, KeptInstances, release};
use crate::python_threads::{PythonThread, Task};

/// An instance of a Python node on a thread of its own.
pub struct ThreadInstance {
    isolation: IsolationOptions,
    thread: Option<PythonThread>,
    cancel: Arc<AtomicBool>,
    kept: Weak<KeptInstances>,
    reused: bool,
}

impl ThreadInstance {
    /// An instance of `node` (a `nodefusion.Node`; `stateful`: a class) on a thread of the
    /// pool, kept by `kept` between runs; a stateful node's runner is built before it
    /// returns.
    pub async fn start(
        node: Arc<Py<PyAny>>,
        stateful: bool,
        isolation: IsolationOptions,
        kept: Weak<KeptInstances>,
    ) -> Result<Self> {
        let thread = PythonThread::take()?;
        let cancel = Arc::new(AtomicBool::new(false));
        let (built, started) = oneshot::channel();
        thread.send(Task::Start {
            node,
            isolation: isolation.clone(),
            cancel: Arc::clone(&cancel),
            built: stateful.then_some(built),
        })?;
        let instance = Self {
            isolation,
            thread: Some(thread),
            cancel,
            kept,
            reused: false,
        };
        if stateful {
            started
                .await
                .map_err(|_| exec_datafusion_err!("its Python thread stopped while starting"))??;
        }
        Ok(instance)
    }

    /// Closes the instance: its runner closed (the receiver hears when), its thread back
    /// in the pool.
    pub fn close(mut self) -> oneshot::Receiver<()> {
        let (closed, was_closed) = oneshot::channel();
        if let Some(thread) = self.thread.take()
            && thread
                .send(Task::End {
                    closed: Some(closed),
                })
                .is_ok()
        {
            thread.put_back();
        }
        was_closed
    }
}

#[async_trait]
impl IsolatedInstance for ThreadInstance {
    async fn process(&mut self, args: &[ArrayRef]) -> Result<Computed> {
        let arguments = args.iter().map(plain).collect::<Result<Vec<_>, _>>()?;
        let (reply, replied) = oneshot::channel();
        let node = &self.isolation.node;
        let gone = || exec_datafusion_err!("node '{node}': its Python thread stopped");
        let thread = self.thread.as_ref().ok_or_else(gone)?;
        thread.send(Task::Batch { arguments, reply })?;
        replied.await.map_err(|_| gone())?
    }

    async fn teardown(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let kept = Self {
            isolation: self.isolation.clone(),
            thread: Some(thread),
            cancel: Arc::clone(&self.cancel),
            kept: Weak::clone(&self.kept),
            reused: true,
        };
        release(
            &self.kept,
            self.isolation.clone(),
            KeptInstance::Thread(kept),
        );
        Ok(())
    }

    fn reused(&self) -> bool {
        self.reused
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
