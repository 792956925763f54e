//! [`PythonThread`]: the threads that run Python nodes' instances, one instance at a time
//! each, kept in a pool between instances and runs. A thread attaches to the interpreter
//! once for its whole life (one thread state, so that `threading.local` and C extensions
//! see one thread) and takes its tasks from a channel, releasing the interpreter's lock
//! while it waits: the lock is taken once per task (building an instance's runner, a
//! batch, closing the runner), never by a worker of the runtime.
//!
//! A cancelled run (Ctrl-C, a failure elsewhere) interrupts the Python code of a thread in
//! the middle of its batch ([`PythonThread::interrupt`]: an asynchronous `Cancelled`
//! exception). [`join_threads`], which the package calls at the interpreter's exit, ends
//! the idle threads and waits for every thread, so that none is attached while the
//! interpreter finalizes.

use std::ffi::c_long;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{DataFusionError, Result, exec_datafusion_err};
use nodefusion_function::{Computed, IsolationOptions};
use pyo3::prelude::*;
use tokio::sync::{mpsc, oneshot};

use crate::kept_instances::close_all_kept;
use crate::runner::Runner;

/// Idle threads kept at most; a thread over it ends when its instance does.
const MOST_IDLE: usize = 64;

/// What a thread is asked to do.
pub enum Task {
    /// Builds the runner of an instance of `node` (a stateful class's `__init__` runs
    /// here); `built`, when given, says when it is (or why it could not be).
    Start {
        node: Arc<Py<PyAny>>,
        isolation: IsolationOptions,
        cancel: Arc<AtomicBool>,
        built: Option<oneshot::Sender<Result<()>>>,
    },
    /// Computes a batch with the instance's runner.
    Batch {
        arguments: Vec<ArrayRef>,
        reply: oneshot::Sender<Result<Computed>>,
    },
    /// Ends the instance: its runner closed (a stateful object's `close`); `closed`, when
    /// given, says when.
    End { closed: Option<oneshot::Sender<()>> },
}

/// What a thread shares with those who hand it tasks.
#[derive(Debug, Default)]
struct State {
    /// The thread's `threading.get_ident()`.
    ident: AtomicU64,
    /// A batch is being computed.
    busy: AtomicBool,
}

/// A thread attached to the interpreter.
pub struct PythonThread {
    tasks: mpsc::UnboundedSender<Task>,
    state: Arc<State>,
}

/// The idle threads, and the threads alive with their end, for [`join_threads`]; once it
/// ran, no thread goes back to the pool.
static IDLE: Mutex<Vec<PythonThread>> = Mutex::new(Vec::new());
static CLOSING: AtomicBool = AtomicBool::new(false);
static LIVE: Mutex<usize> = Mutex::new(0);
static ENDED: Condvar = Condvar::new();

/// Closes the kept instances, ends the idle threads and waits until every thread has
/// ended, at most `timeout` seconds; whether they all have. The package calls it at the
/// interpreter's exit.
#[pyfunction]
pub fn join_threads(py: Python<'_>, timeout: f64) -> bool {
    CLOSING.store(true, Ordering::SeqCst);
    drop(close_all_kept());
    if let Ok(mut idle) = IDLE.lock() {
        idle.clear();
    }
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

/// The error of a batch whose instance has no runner.
fn no_runner(why: &Option<String>) -> DataFusionError {
    DataFusionError::Execution(why.clone().unwrap_or_else(|| "no runner".to_string()))
}

/// A thread's life: tasks until its channel closes.
fn serve(state: &State, mut tasks: mpsc::UnboundedReceiver<Task>) {
    Python::attach(|py| {
        if let Ok(ident) = py
            .import("threading")
            .and_then(|threading| threading.call_method0("get_ident")?.extract())
        {
            state.ident.store(ident, Ordering::Relaxed);
        }
        let mut runner: Option<Runner> = None;
        let mut failed_start: Option<String> = None;
        while let Some(task) = py.detach(|| tasks.blocking_recv()) {
            match task {
                Task::Start {
                    node,
                    isolation,
                    cancel,
                    built,
                } => {
                    let made = Runner::new(py, &node, &isolation, cancel);
                    let outcome = match made {
                        Ok(made) => {
                            runner = Some(made);
                            failed_start = None;
                            Ok(())
                        }
                        Err(error) => {
                            failed_start = Some(error.to_string());
                            Err(error)
                        }
                    };
                    if let Some(built) = built {
                        let _ = built.send(outcome);
                    }
                }
                Task::Batch { arguments, reply } => {
                    state.busy.store(true, Ordering::SeqCst);
                    let computed = match &runner {
                        Some(runner) => runner.call(py, &arguments),
                        None => Err(no_runner(&failed_start)),
                    };
                    state.busy.store(false, Ordering::SeqCst);
                    let _ = reply.send(computed);
                }
                Task::End { closed } => {
                    set_async_exception(py, state, None);
                    if let Some(runner) = runner.take() {
                        runner.close(py);
                    }
                    if let Some(closed) = closed {
                        let _ = closed.send(());
                    }
                }
            }
        }
    });
}

/// Raises `exception` in the thread's Python code at its next instruction, or (`None`)
/// takes back such an exception not yet raised.
fn set_async_exception(_attached: Python<'_>, state: &State, exception: Option<&Bound<'_, PyAny>>) {
    let ident = state.ident.load(Ordering::Relaxed) as c_long;
    let exception = exception.map_or(std::ptr::null_mut(), |exception| exception.as_ptr());
    // SAFETY: attached to the interpreter (`_attached`); `exception` is a live object held
    // by the caller, or null, which takes back a pending exception; an ident no thread has
    // is ignored.
    unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(ident, exception) };
}

impl PythonThread {
    /// An idle thread, or a new one.
    pub fn take() -> Result<Self> {
        if let Some(thread) = IDLE.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(thread);
        }
        let (tasks, queue) = mpsc::unbounded_channel();
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        count_thread(true);
        let spawned = std::thread::Builder::new()
            .name("nodefusion python".to_string())
            .spawn(move || {
                serve(&shared, queue);
                count_thread(false);
            });
        if let Err(error) = spawned {
            count_thread(false);
            return Err(exec_datafusion_err!("cannot start a thread: {error}"));
        }
        Ok(Self { tasks, state })
    }

    /// Hands the thread a task; an error when the thread is gone.
    pub fn send(&self, task: Task) -> Result<()> {
        self.tasks
            .send(task)
            .map_err(|_| exec_datafusion_err!("its Python thread stopped"))
    }

    /// Puts the thread back among the idle ones (its instance ended; a thread dropped
    /// instead ends once its tasks are done).
    pub fn put_back(self) {
        if let Ok(mut idle) = IDLE.lock()
            && idle.len() < MOST_IDLE
            && !CLOSING.load(Ordering::SeqCst)
        {
            idle.push(self);
        }
    }

    /// Interrupts the batch the thread is computing, if it is, from a thread of its own
    /// (the caller may not wait for the interpreter's lock). Only for a thread that will
    /// not be put back: it serves the same instance until it ends.
    pub fn interrupt(&self) {
        if !self.state.busy.load(Ordering::SeqCst) {
            return;
        }
        let state = Arc::clone(&self.state);
        std::thread::spawn(move || {
            Python::try_attach(|py| {
                let cancelled = py
                    .import("nodefusion._runner")
                    .and_then(|runner| runner.getattr("Cancelled"));
                if let Ok(cancelled) = cancelled
                    && state.busy.load(Ordering::SeqCst)
                {
                    set_async_exception(py, &state, Some(&cancelled));
                }
            })
        });
    }
}
