//! [`run_executor`]: a Ballista executor that runs nodefusion's operators, with every
//! nodefusion function, option, codec and object store; its tasks share nodes' run states
//! and instances of stateful functions ([`share_across_tasks`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::RuntimeProducer;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;

use super::session::{cluster_config, cluster_state};
use super::{NodefusionLogicalCodec, NodefusionPhysicalCodec};
use crate::error::{Error, Result};
use crate::exec::share_across_tasks;
use crate::io::LazyObjectStores;

/// How an executor is started.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler to register with.
    pub scheduler: SocketAddr,
    /// The address its Arrow Flight service (shuffle data) listens on; its gRPC service
    /// listens on the next port.
    pub bind: SocketAddr,
    /// The host other processes reach it by, when not the address it binds to.
    pub external_host: Option<String>,
    /// Where it keeps shuffle files; its own directory, not shared with another executor.
    pub work_dir: PathBuf,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_seconds: u64,
    /// Tasks it runs at once.
    pub slots: usize,
}

/// Runs an executor until the process is stopped.
pub async fn run_executor(options: ExecutorOptions) -> Result<()> {
    let address = options.scheduler.to_string();
    // Named by its own address: a failure to start is most often its port being taken.
    let cluster_error = |message: String| Error::Cluster {
        address: address.clone(),
        message: format!("the executor on {}: {message}", options.bind),
    };
    std::fs::create_dir_all(&options.work_dir).map_err(|source| Error::Io {
        path: options.work_dir.clone(),
        source,
    })?;
    let work_dir = options
        .work_dir
        .to_str()
        .ok_or_else(|| cluster_error(format!("{} is no UTF-8 path", options.work_dir.display())))?
        .to_string();
    let state =
        cluster_state(cluster_config()).map_err(|error| cluster_error(error.to_string()))?;
    let grpc_port = options
        .bind
        .port()
        .checked_add(1)
        .ok_or_else(|| cluster_error(format!("no port after {} for gRPC", options.bind)))?;
    // Ballista's executor ends quietly, and successfully, when a port is taken: look first.
    for port in [options.bind.port(), grpc_port] {
        let address = SocketAddr::new(options.bind.ip(), port);
        std::net::TcpListener::bind(address)
            .map_err(|error| cluster_error(format!("cannot listen on {address}: {error}")))?;
    }
    let bind_host = options.bind.ip().to_string();
    let external_host = options
        .external_host
        .clone()
        .or_else(|| (!options.bind.ip().is_unspecified()).then(|| bind_host.clone()));
    // Whatever URLs the plans name: their stores built on first use, kept for every task.
    let stores: Arc<dyn ObjectStoreRegistry> = Arc::new(LazyObjectStores::default());
    let temporary = work_dir.clone();
    let runtime_producer: RuntimeProducer = Arc::new(move |_| {
        let runtime = RuntimeEnvBuilder::new()
            .with_temp_file_path(temporary.clone())
            .with_object_store_registry(Arc::clone(&stores))
            .build()?;
        Ok(Arc::new(runtime))
    });
    let config = ExecutorProcessConfig {
        bind_host,
        external_host,
        port: options.bind.port(),
        grpc_port,
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        vcores: options.slots.max(1),
        work_dir: Some(work_dir),
        executor_heartbeat_interval_seconds: options.heartbeat_seconds.max(1),
        print_thread_info: false,
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&state))),
        override_config_producer: Some(Arc::new(cluster_config)),
        override_runtime_producer: Some(runtime_producer),
        override_logical_codec: Some(Arc::new(NodefusionLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(NodefusionPhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    share_across_tasks(config.vcores);
    eprintln!(
        "nodefusion executor on {} (gRPC {grpc_port}), {} slots, scheduler {address}, work dir {}",
        options.bind,
        config.vcores,
        options.work_dir.display()
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|error| cluster_error(error.to_string()))
}
