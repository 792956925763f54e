//! [`ThreadInstance`]: an instance of a Python node on a thread of its own. The thread
//! attaches to the interpreter once for its whole life (one thread state, so that
//! `threading.local` and C extensions see one thread), builds the node's runner there
//! (a stateful class's `__init__` runs on it), then takes batches from a channel: the
//! interpreter's lock is taken once per batch and released while it waits. The operator
//! awaits each reply; no worker of the runtime ever waits for the lock.
//!
//! Dropped in the middle of a batch (a cancelled run: Ctrl-C, a failure elsewhere), the
//! instance interrupts its thread's Python code (an asynchronous `Cancelled` exception) and
//! lets it end; [`join_threads`], which the package calls at the interpreter's exit, waits
//! for every such thread, so that none is left attached while the interpreter finalizes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, exec_datafusion_err};
use nodefusion_function::{Computed, IsolatedInstance, IsolationOptions};
use pyo3::prelude::*;
use tokio::sync::{mpsc, oneshot};

use crate::arrow::plain;
use crate::runner::Runner;

/// A batch for the thread, and where its result goes.
struct Job {
    arguments: Vec<ArrayRef>,
    reply: oneshot::Sender<Result<Computed>>,
}

/// The instance threads alive, and their end, for [`join_threads`].
static LIVE: Mutex<usize> = Mutex::new(0);
static ENDED: Condvar = Condvar::new();

/// Waits until every instance thread has ended, at most `timeout` seconds; whether they
/// all have. The package calls it at the interpreter's exit.
#[pyfunction]
pub fn join_threads(py: Python<'_>, timeout: f64) -> bool {
    py.detach(|| {
        let Ok(live) = LIVE.lock() else {
            return false;
        };
        let waited =
            ENDED.wait_timeout_while(live, Duration::from_secs_f64(timeout), |live| *live > 0);
        waited.is_ok_and(|(live, _)| *live == 0)
    })
}

/// Counts a thread that `started`, or ended, into the threads alive.
fn count_thread(started: bool) {
    if let Ok(mut live) = LIVE.lock() {
        match started {
            true => *live += 1,
            false => *live = live.saturating_sub(1),
        }
    }
    ENDED.notify_all();
}

/// What an instance and its thread share.
#[derive(Debug, Default)]
struct Control {
    /// The run is cancelled: the runner stops at its next row.
    cancelled: AtomicBool,
    /// A batch is being computed.
    busy: AtomicBool,
    /// The thread's `threading.get_ident()`.
    ident: AtomicU64,
}

/// The runner's view of [`Control::cancelled`] (true once the run is cancelled).
#[derive(Debug)]
#[pyclass(frozen)]
pub struct CancelFlag(Arc<Control>);

#[pymethods]
impl CancelFlag {
    fn __bool__(&self) -> bool {
        self.0.cancelled.load(Ordering::Relaxed)
    }
}

/// An instance of a Python node on a thread of its own.
pub struct ThreadInstance {
    node: String,
    jobs: Option<mpsc::UnboundedSender<Job>>,
    finished: Option<oneshot::Receiver<()>>,
    control: Arc<Control>,
}

/// The thread's `threading.get_ident()`.
fn thread_ident(py: Python<'_>) -> PyResult<u64> {
    py.import("threading")?.call_method0("get_ident")?.extract()
}

/// The thread's life: the runner built, then batches until the channel closes.
fn serve(
    node: &Py<PyAny>,
    isolation: &IsolationOptions,
    control: Arc<Control>,
    ready: oneshot::Sender<Result<()>>,
    mut queue: mpsc::UnboundedReceiver<Job>,
) {
    Python::attach(|py| {
        if let Ok(ident) = thread_ident(py) {
            control.ident.store(ident, Ordering::Relaxed);
        }
        let cancel = CancelFlag(Arc::clone(&control));
        let runner = match Runner::new(py, node, isolation, Some(cancel)) {
            Ok(runner) => runner,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        while let Some(job) = py.detach(|| queue.blocking_recv()) {
            control.busy.store(true, Ordering::SeqCst);
            let computed = runner.call(py, &job.arguments);
            control.busy.store(false, Ordering::SeqCst);
            let _ = job.reply.send(computed);
        }
        interrupt(py, &control, false);
        runner.close(py);
    });
}

/// Raises `Cancelled` in the thread's Python code (`raise`), or takes back such an
/// exception not yet raised.
fn interrupt(py: Python<'_>, control: &Control, raise: bool) {
    let ident = control.ident.load(Ordering::Relaxed);
    let _ = py
        .import("nodefusion._runner")
        .and_then(|runner| runner.call_method1("interrupt", (ident, raise)));
}

impl ThreadInstance {
    /// Starts the thread and waits until the runner of `node` (a `nodefusion.Node`) is
    /// built on it.
    pub async fn start(node: Arc<Py<PyAny>>, isolation: IsolationOptions) -> Result<Self> {
        let (jobs, queue) = mpsc::unbounded_channel::<Job>();
        let (ready, started) = oneshot::channel::<Result<()>>();
        let (done, finished) = oneshot::channel::<()>();
        let control = Arc::new(Control::default());
        let shared = Arc::clone(&control);
        let name = isolation.node.clone();
        count_thread(true);
        let spawned = std::thread::Builder::new()
            .name(format!("nodefusion {name}"))
            .spawn(move || {
                serve(&node, &isolation, shared, ready, queue);
                let _ = done.send(());
                count_thread(false);
            });
        if let Err(error) = spawned {
            count_thread(false);
            return Err(exec_datafusion_err!("cannot start a thread: {error}"));
        }
        started
            .await
            .map_err(|_| exec_datafusion_err!("its Python thread stopped while starting"))??;
        Ok(Self {
            node: name,
            jobs: Some(jobs),
            finished: Some(finished),
            control,
        })
    }
}

#[async_trait]
impl IsolatedInstance for ThreadInstance {
    async fn process(&mut self, args: &[ArrayRef]) -> Result<Computed> {
        let arguments = args.iter().map(plain).collect::<Result<Vec<_>, _>>()?;
        let (reply, replied) = oneshot::channel();
        let gone = || exec_datafusion_err!("node '{}': its Python thread stopped", self.node);
        let jobs = self.jobs.as_ref().ok_or_else(gone)?;
        jobs.send(Job { arguments, reply }).map_err(|_| gone())?;
        replied.await.map_err(|_| gone())?
    }

    async fn teardown(&mut self) -> Result<()> {
        self.jobs = None;
        if let Some(finished) = self.finished.take() {
            let _ = finished.await;
        }
        Ok(())
    }
}

impl Drop for ThreadInstance {
    /// Not torn down: the runner stops at its next row, the function's Python code is
    /// interrupted (from a thread of its own: the one dropping may not wait for the
    /// interpreter), and the thread ends when it sees the channel closed.
    fn drop(&mut self) {
        if self.finished.is_none() {
            return;
        }
        self.control.cancelled.store(true, Ordering::SeqCst);
        if self.control.busy.load(Ordering::SeqCst) {
            let control = Arc::clone(&self.control);
            std::thread::spawn(move || {
                Python::try_attach(|py| {
                    if control.busy.load(Ordering::SeqCst) {
                        interrupt(py, &control, true);
                    }
                })
            });
        }
    }
}
