//! [`Worker`]: a worker process of Python nodes (`python -m nodefusion.worker`, spawned,
//! never forked), serving one instance at a time and kept in a pool between instances and
//! runs (started once, its interpreter and pyarrow imported once). Its pipes are driven by
//! the package's runtime ([`on_package_runtime`]), whichever runtime awaits them (the
//! `nodefusion` command runs its own): a worker outlives the run that started it. Dropped,
//! a worker is killed.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use datafusion::common::{DataFusionError, Result, exec_datafusion_err};
use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::AbortHandle;

use crate::runtime::runtime;
use crate::worker_messages::{receive, send};

/// How long a worker may take to exit once its pipes closed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Idle workers kept at most, per interpreter.
const MOST_IDLE: usize = 16;

/// The idle workers, with the interpreter each runs.
static IDLE: Mutex<Vec<(PathBuf, Worker)>> = Mutex::new(Vec::new());

/// Aborts a task of the package's runtime when the one awaiting it gives up.
struct AbortOnDrop(Option<AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Runs `work` on the package's runtime and awaits it; dropped, the await aborts it (and
/// drops, so kills, the workers it holds).
pub async fn on_package_runtime<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T> {
    let runtime = runtime().map_err(|error| exec_datafusion_err!("{error}"))?;
    let task = runtime.spawn(work);
    let mut abort = AbortOnDrop(Some(task.abort_handle()));
    let outcome = task.await;
    abort.0 = None;
    outcome.map_err(|error| exec_datafusion_err!("a worker process's task failed: {error}"))
}

/// A worker process.
pub struct Worker {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

/// The text of a message's `message`.
pub fn message_of(header: &Value) -> String {
    header["message"].as_str().unwrap_or_default().to_string()
}

impl Worker {
    /// An idle worker running `python`, or a new one. Only on the package's runtime.
    pub fn take(python: &Path) -> Result<Self> {
        let idle = IDLE.lock().ok().and_then(|mut idle| {
            let position = idle.iter().position(|(path, _)| path == python)?;
            Some(idle.swap_remove(position).1)
        });
        match idle {
            Some(worker) => Ok(worker),
            None => Self::spawn(python),
        }
    }

    fn spawn(python: &Path) -> Result<Self> {
        let mut child = Command::new(python)
            .args(["-m", "nodefusion.worker"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                exec_datafusion_err!(
                    "cannot start a worker process ({} -m nodefusion.worker): {error}",
                    python.display()
                )
            })?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(exec_datafusion_err!("a worker process without pipes"));
        };
        Ok(Self {
            child,
            input,
            output: BufReader::new(output),
        })
    }

    /// Sends `header` and `body`, and receives the reply; an error when the worker died.
    pub async fn ask(&mut self, header: &Value, body: &[u8]) -> std::io::Result<(Value, Vec<u8>)> {
        send(&mut self.input, header, body).await?;
        receive(&mut self.output).await
    }

    /// Builds an instance's runner in the worker from the `init` message: the worker, or
    /// why it could not (the worker, still usable, goes back to the pool).
    pub async fn init(mut self, python: &Path, init: &Value, node: &[u8]) -> Result<Self> {
        match self.ask(init, node).await {
            Ok((header, _)) if header["kind"] == "ready" => Ok(self),
            Ok((header, _)) => {
                self.put_back(python);
                Err(DataFusionError::Execution(message_of(&header)))
            }
            Err(_) => Err(exec_datafusion_err!(
                "its worker process died while starting ({})",
                self.death().await
            )),
        }
    }

    /// Ends the worker's instance (its runner closed) and puts it back in the pool; a
    /// worker that does not answer is killed.
    pub async fn end(mut self, python: &Path) {
        if let Ok((header, _)) = self.ask(&json!({"kind": "end"}), &[]).await
            && header["kind"] == "ended"
        {
            self.put_back(python);
        }
    }

    fn put_back(self, python: &Path) {
        if let Ok(mut idle) = IDLE.lock()
            && idle.iter().filter(|(path, _)| path == python).count() < MOST_IDLE
        {
            idle.push((python.to_path_buf(), self));
        }
    }

    /// How the worker ended, once its pipes closed (killed if it has not within
    /// [`EXIT_GRACE`]), in words.
    pub async fn death(mut self) -> String {
        let ended: std::result::Result<ExitStatus, String> =
            match tokio::time::timeout(EXIT_GRACE, self.child.wait()).await {
                Ok(Ok(status)) => Ok(status),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => {
                    let _ = self.child.kill().await;
                    Err("it stopped answering and was killed".to_string())
                }
            };
        match ended {
            Ok(status) => status.to_string(),
            Err(reason) => reason,
        }
    }
}
