//! [`ProcessInstance`]: an instance of a Python node in a worker process of its own
//! (`python -m nodefusion.worker`, spawned, never forked), for CPU-bound Python across
//! cores. The node goes to it pickled once; each batch goes as Arrow IPC, only the columns
//! the node reads, and comes back the same way (`worker_messages`). The stateful object
//! lives in the worker. A worker that dies on a batch is started again and the batch tried
//! once more; dying again fails the batch, saying how it died. Dropped (a cancelled run),
//! the instance kills its worker.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::common::{DataFusionError, Result, exec_datafusion_err};
use nodefusion_function::{Computed, IsolatedInstance, IsolationOptions, RowFailure};
use pyo3::prelude::*;
use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::arrow::plain;
use crate::errors::exception_text;
use crate::worker_messages::{arguments_body, receive, send, values_of};

/// How long a worker may take to exit once asked to, or once its output closed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// What starting a worker takes: the interpreter, and the `init` message.
struct WorkerSetup {
    python: PathBuf,
    init: Value,
    pickled_node: Vec<u8>,
}

impl WorkerSetup {
    /// The setup of workers for `node` (a `nodefusion.Node`): this interpreter, its
    /// `sys.path`, the node pickled (an error says why it cannot be).
    fn of(py: Python<'_>, node: &Py<PyAny>, isolation: &IsolationOptions) -> Result<Self> {
        let read = || -> PyResult<(PathBuf, Vec<String>, Vec<u8>)> {
            let sys = py.import("sys")?;
            let pickled = node.bind(py).call_method0("pickled")?;
            Ok((
                sys.getattr("executable")?.extract()?,
                sys.getattr("path")?.extract()?,
                pickled.extract()?,
            ))
        };
        let (python, path, pickled_node) =
            read().map_err(|error| DataFusionError::Execution(exception_text(py, &error)))?;
        let init = json!({
            "kind": "init",
            "node": isolation.node,
            "path": path,
            "options": {
                "max_concurrency": isolation.max_concurrency,
                "timeout": isolation.timeout.as_secs_f64(),
                "max_retries": isolation.max_retries,
            },
        });
        Ok(Self {
            python,
            init,
            pickled_node,
        })
    }
}

/// A running worker process.
struct Worker {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

/// The text of a message's `message`.
fn message_of(header: &Value) -> String {
    header["message"].as_str().unwrap_or_default().to_string()
}

impl Worker {
    /// Starts a worker and waits until it has built the node's runner.
    async fn start(setup: &WorkerSetup) -> Result<Self> {
        let mut child = Command::new(&setup.python)
            .args(["-m", "nodefusion.worker"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                exec_datafusion_err!(
                    "cannot start a worker process ({} -m nodefusion.worker): {error}",
                    setup.python.display()
                )
            })?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(exec_datafusion_err!("a worker process without pipes"));
        };
        let mut worker = Self {
            child,
            input,
            output: BufReader::new(output),
        };
        let started = async {
            send(&mut worker.input, &setup.init, &setup.pickled_node).await?;
            receive(&mut worker.output).await
        };
        match started.await {
            Ok((header, _)) if header["kind"] == "ready" => Ok(worker),
            Ok((header, _)) => Err(DataFusionError::Execution(message_of(&header))),
            Err(_) => Err(exec_datafusion_err!(
                "its worker process died while starting ({})",
                worker.death().await
            )),
        }
    }

    /// Sends a batch and receives the reply; an error when the worker died meanwhile.
    async fn compute(&mut self, arguments: &[u8]) -> std::io::Result<(Value, Vec<u8>)> {
        send(&mut self.input, &json!({"kind": "batch"}), arguments).await?;
        receive(&mut self.output).await
    }

    /// How the worker ended, once its pipes closed (killed if it has not within
    /// [`EXIT_GRACE`]).
    async fn ended(mut self) -> std::result::Result<ExitStatus, String> {
        match tokio::time::timeout(EXIT_GRACE, self.child.wait()).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => {
                let _ = self.child.kill().await;
                Err("it stopped answering and was killed".to_string())
            }
        }
    }

    /// How the worker ended, in words.
    async fn death(self) -> String {
        match self.ended().await {
            Ok(status) => status.to_string(),
            Err(reason) => reason,
        }
    }

    /// Asks the worker to exit, and waits for it.
    async fn exit(mut self) -> Result<()> {
        let _ = send(&mut self.input, &json!({"kind": "exit"}), &[]).await;
        match self.ended().await {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(exec_datafusion_err!(
                "its worker process did not exit cleanly ({status})"
            )),
            Err(reason) => Err(exec_datafusion_err!(
                "its worker process did not exit ({reason})"
            )),
        }
    }
}

/// A worker's reply to a batch as what it computed.
fn computed(header: &Value, body: Vec<u8>) -> Result<Computed> {
    if header["kind"] != "result" {
        return Err(DataFusionError::Execution(message_of(header)));
    }
    let failures = header["failures"]
        .as_array()
        .map(|failures| {
            failures
                .iter()
                .map(|failure| RowFailure {
                    row: failure[0].as_u64().unwrap_or_default() as usize,
                    message: failure[1].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Computed {
        values: values_of(body)?,
        failures,
    })
}

/// An instance of a Python node in a worker process of its own.
pub struct ProcessInstance {
    setup: WorkerSetup,
    worker: Option<Worker>,
}

impl ProcessInstance {
    /// Starts the worker of `node` (a `nodefusion.Node`) and waits until its runner is
    /// built there.
    pub async fn start(node: Arc<Py<PyAny>>, isolation: IsolationOptions) -> Result<Self> {
        let setup = tokio::task::spawn_blocking(move || {
            Python::attach(|py| WorkerSetup::of(py, &node, &isolation))
        })
        .await
        .map_err(|error| exec_datafusion_err!("preparing the worker process: {error}"))??;
        let worker = Worker::start(&setup).await?;
        Ok(Self {
            setup,
            worker: Some(worker),
        })
    }
}

#[async_trait]
impl IsolatedInstance for ProcessInstance {
    async fn process(&mut self, args: &[ArrayRef]) -> Result<Computed> {
        let arguments = args.iter().map(plain).collect::<Result<Vec<_>, _>>()?;
        let body = arguments_body(&arguments)?;
        let mut deaths = Vec::new();
        while deaths.len() < 2 {
            let mut worker = match self.worker.take() {
                Some(worker) => worker,
                None => Worker::start(&self.setup).await?,
            };
            match worker.compute(&body).await {
                Ok((header, values)) => {
                    self.worker = Some(worker);
                    return computed(&header, values);
                }
                Err(_) => deaths.push(worker.death().await),
            }
        }
        Err(exec_datafusion_err!(
            "its worker process died computing this batch ({}); started again, it died again \
             ({})",
            deaths[0],
            deaths[1]
        ))
    }

    async fn teardown(&mut self) -> Result<()> {
        match self.worker.take() {
            Some(worker) => worker.exit().await,
            None => Ok(()),
        }
    }
}
