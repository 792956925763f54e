//! [`run_scheduler`]: a Ballista scheduler that plans nodefusion's SQL and pipelines, with
//! every nodefusion function, option and codec.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use ballista_scheduler::cluster::{BallistaCluster, ClusterState};
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::start_server;

use super::physical_codec::ExecutorCount;
use super::session::{cluster_config, cluster_state};
use super::{NodefusionLogicalCodec, NodefusionPhysicalCodec};
use crate::error::{Error, Result};

/// How a scheduler is started.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address it listens on (gRPC, no authentication: keep it on 127.0.0.1 or a
    /// private network).
    pub bind: SocketAddr,
    /// How long an executor may stay silent before it is taken for dead and its tasks are
    /// run elsewhere.
    pub executor_timeout_seconds: u64,
}

/// Runs a scheduler until the process is stopped.
pub async fn run_scheduler(options: SchedulerOptions) -> Result<()> {
    let timeout = options.executor_timeout_seconds.max(1);
    // The cluster's state is there once the cluster is made, after its configuration.
    let state: Arc<OnceLock<Arc<dyn ClusterState>>> = Arc::default();
    let executors: ExecutorCount = {
        let state = Arc::clone(&state);
        Arc::new(move || {
            state
                .get()
                .map_or(1, |state| alive_executors(state.as_ref(), timeout))
        })
    };
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        executor_timeout_seconds: timeout,
        // The reaper looks often enough for the timeout to mean what it says.
        expire_dead_executor_interval_seconds: (timeout / 4).max(1),
        // With no executor left, a job fails after this long instead of waiting forever.
        no_executors_grace_period_seconds: timeout,
        // A job's parts go one to each executor in turn, so that fewer parts than slots
        // still spread (the default fills one executor's slots first).
        task_distribution: TaskDistributionPolicy::RoundRobin,
        override_config_producer: Some(Arc::new(cluster_config)),
        override_session_builder: Some(Arc::new(cluster_state)),
        override_logical_codec: Some(Arc::new(NodefusionLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(NodefusionPhysicalCodec::counting_executors(
            executors,
        ))),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|error| cluster_error(&options.bind, error))?;
    let _ = state.set(cluster.cluster_state());
    eprintln!(
        "nodefusion scheduler starting on {} (executors are taken for dead after {timeout} s \
         of silence)",
        options.bind
    );
    start_server(cluster, options.bind, Arc::new(config))
        .await
        .map_err(|error| cluster_error(&options.bind, error))
}

/// The executors of `state` heard from within `timeout` seconds (at least one: a job
/// planned with none waits for one).
fn alive_executors(state: &dyn ClusterState, timeout: u64) -> usize {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let alive = state
        .executor_heartbeats()
        .values()
        .filter(|heartbeat| now.saturating_sub(heartbeat.timestamp) <= timeout)
        .count();
    alive.max(1)
}

/// A failure of the scheduler at `bind`.
fn cluster_error(bind: &SocketAddr, error: impl std::fmt::Display) -> Error {
    Error::Cluster {
        address: bind.to_string(),
        message: error.to_string(),
    }
}
