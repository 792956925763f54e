//! [`Server`]: an embedding server's life. [`Server::start`] listens at once (so `/health`
//! answers and `/ready` says 503 while loading), starts the encoder instances, each loading
//! and warming up the model, and returns when all are ready. [`Server::run`] serves until
//! told to stop, then drains: `/ready` turns 503, no new connection is accepted, admitted
//! requests finish within the drain deadline, and the instances stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::serve::ListenerExt as _;
use nodefusion_model::ModelError;
use tokio::sync::{mpsc, oneshot};

use super::options::ServeOptions;
use super::routes::router;
use super::service::Service;
use super::workers::{EncoderSpec, Loaded, spawn_instance};

/// Why a server could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be listened on.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// An encoder instance could not be started.
    #[error("cannot start an encoder instance: {0}")]
    Instance(std::io::Error),
    /// The model could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Serving failed.
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every admitted request was answered.
    Finished,
    /// The deadline passed with requests of this many tokens unanswered.
    DeadlinePassed {
        /// Their tokens.
        unanswered_tokens: usize,
    },
}

/// A started server.
#[derive(Debug)]
pub struct Server {
    address: SocketAddr,
    service: Arc<Service>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: oneshot::Sender<()>,
    instances: Vec<JoinHandle<()>>,
}

impl Server {
    /// Listens on `options.bind` and loads the model into `options.instances` instances;
    /// returns once every instance is loaded and warmed up.
    pub async fn start(options: ServeOptions) -> Result<Self, ServeError> {
        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .map_err(|source| ServeError::Bind {
                address: options.bind,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| ServeError::Bind {
            address: options.bind,
            source,
        })?;
        let spec = EncoderSpec {
            directory: options.directory.clone(),
            threads: options.threads,
            arithmetic: options.arithmetic,
        };
        let count = options.instances.max(1);
        let service = Arc::new(Service::new(options));
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&service));
        // No Nagle delay: an answer's last segment goes out without waiting for an ACK.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let serving = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        match load_instances(&service, &spec, count).await {
            Ok(instances) => Ok(Self {
                address,
                service,
                serving,
                stop,
                instances,
            }),
            Err(error) => {
                service.queue.close();
                serving.abort();
                Err(error)
            }
        }
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `shutdown` completes, then drains: admitted requests have until the
    /// drain deadline to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<Drained, ServeError> {
        let Self {
            service,
            mut serving,
            stop,
            instances,
            ..
        } = self;
        tokio::select! {
            () = shutdown => {}
            ended = &mut serving => {
                service.queue.close();
                return match ended {
                    Ok(Ok(())) => Ok(Drained::Finished),
                    Ok(Err(error)) => Err(ServeError::Serve(error)),
                    Err(error) => Err(ServeError::Serve(std::io::Error::other(error))),
                };
            }
        }
        service.start_draining();
        let _ = stop.send(());
        let finished = tokio::time::timeout(service.options.drain_timeout, serving).await;
        service.queue.close();
        if finished.is_err() {
            return Ok(Drained::DeadlinePassed {
                unanswered_tokens: service.admitted_tokens(),
            });
        }
        let _ = tokio::task::spawn_blocking(move || {
            for instance in instances {
                let _ = instance.join();
            }
        })
        .await;
        Ok(Drained::Finished)
    }
}

/// Starts `count` instances of `spec` on `service`'s queue and waits until each has loaded
/// and warmed up the model; then `service` is ready.
async fn load_instances(
    service: &Service,
    spec: &EncoderSpec,
    count: usize,
) -> Result<Vec<JoinHandle<()>>, ServeError> {
    let (loaded, mut reports) = mpsc::unbounded_channel::<Loaded>();
    let mut instances = Vec::with_capacity(count);
    for index in 0..count {
        let report = loaded.clone();
        let instance = spawn_instance(
            index,
            spec.clone(),
            Arc::clone(&service.queue),
            Arc::clone(&service.metrics),
            move |outcome| {
                let _ = report.send(outcome);
            },
        )
        .map_err(ServeError::Instance)?;
        instances.push(instance);
    }
    drop(loaded);
    let mut model = None;
    while let Some(report) = reports.recv().await {
        model.get_or_insert(report?);
    }
    let (tokenizer, dimension) = model.ok_or_else(|| {
        ServeError::Instance(std::io::Error::other(
            "the encoder instances stopped before loading the model",
        ))
    })?;
    service.set_loaded(tokenizer, dimension);
    Ok(instances)
}
