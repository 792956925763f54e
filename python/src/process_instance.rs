//! [`ProcessInstance`]: an instance of a Python node in a worker process of its own
//! (`python -m nodefusion.worker`, from the pool of [`Worker`]s), for CPU-bound Python
//! across cores. The node goes to it pickled once; each batch goes as Arrow IPC, only the
//! columns the node reads, and comes back the same way (`worker_messages`). The stateful
//! object lives in the worker. A worker that dies on a batch is replaced and the batch
//! tried once more; dying again fails the batch, saying how it died. Torn down, the
//! instance is kept by its function for a later run ([`KeptInstances`]); closed, its runner
//! is closed and the worker goes back to the pool. Dropped (a cancelled run), the instance
//! kills its worker.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::common::{DataFusionError, Result, exec_datafusion_err};
use nodefusion_function::{Computed, IsolatedInstance, IsolationOptions, RowFailure};
use pyo3::prelude::*;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::arrow::plain;
use crate::errors::exception_text;
use crate::kept_instances::{KeptInstance, KeptInstances, release};
use crate::runtime::runtime;
use crate::worker_messages::{arguments_body, values_of};
use crate::worker_processes::{Worker, message_of, on_package_runtime};

/// What building an instance in a worker takes: the interpreter, and the `init` message.
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

    /// A worker from the pool with the instance's runner built in it.
    async fn worker(self: Arc<Self>) -> Result<Worker> {
        let worker = Worker::take(&self.python)?;
        worker
            .init(&self.python, &self.init, &self.pickled_node)
            .await
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
    isolation: IsolationOptions,
    setup: Arc<WorkerSetup>,
    worker: Option<Worker>,
    kept: Weak<KeptInstances>,
    reused: bool,
}

/// A batch on `worker`: its reply, and the worker if it is still alive, else how it died.
async fn compute(
    mut worker: Worker,
    body: Arc<Vec<u8>>,
) -> std::result::Result<(Worker, Value, Vec<u8>), String> {
    match worker.ask(&json!({"kind": "batch"}), &body).await {
        Ok((header, values)) => Ok((worker, header, values)),
        Err(_) => Err(worker.death().await),
    }
}

impl ProcessInstance {
    /// A worker of `node` (a `nodefusion.Node`) with its runner built there, kept by
    /// `kept` between runs.
    pub async fn start(
        node: Arc<Py<PyAny>>,
        isolation: IsolationOptions,
        kept: Weak<KeptInstances>,
    ) -> Result<Self> {
        let options = isolation.clone();
        let setup = tokio::task::spawn_blocking(move || {
            Python::attach(|py| WorkerSetup::of(py, &node, &options))
        })
        .await
        .map_err(|error| exec_datafusion_err!("preparing the worker process: {error}"))??;
        let setup = Arc::new(setup);
        let worker = on_package_runtime(Arc::clone(&setup).worker()).await??;
        Ok(Self {
            isolation,
            setup,
            worker: Some(worker),
            kept,
            reused: false,
        })
    }

    /// Closes the instance: its runner closed (the receiver hears when), its worker back
    /// in the pool.
    pub fn close(mut self) -> oneshot::Receiver<()> {
        let (closed, was_closed) = oneshot::channel();
        if let (Some(worker), Ok(runtime)) = (self.worker.take(), runtime()) {
            let python = self.setup.python.clone();
            runtime.spawn(async move {
                worker.end(&python).await;
                let _ = closed.send(());
            });
        }
        was_closed
    }
}

#[async_trait]
impl IsolatedInstance for ProcessInstance {
    async fn process(&mut self, args: &[ArrayRef]) -> Result<Computed> {
        let arguments = args.iter().map(plain).collect::<Result<Vec<_>, _>>()?;
        let body = Arc::new(arguments_body(&arguments)?);
        let mut deaths = Vec::new();
        while deaths.len() < 2 {
            let worker = match self.worker.take() {
                Some(worker) => worker,
                None => on_package_runtime(Arc::clone(&self.setup).worker()).await??,
            };
            match on_package_runtime(compute(worker, Arc::clone(&body))).await? {
                Ok((worker, header, values)) => {
                    self.worker = Some(worker);
                    return computed(&header, values);
                }
                Err(death) => deaths.push(death),
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
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        let kept = Self {
            isolation: self.isolation.clone(),
            setup: Arc::clone(&self.setup),
            worker: Some(worker),
            kept: Weak::clone(&self.kept),
            reused: true,
        };
        let instance = KeptInstance::Process(Box::new(kept));
        release(&self.kept, self.isolation.clone(), instance);
        Ok(())
    }

    fn reused(&self) -> bool {
        self.reused
    }
}
