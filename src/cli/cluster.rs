//! `nodefusion cluster scheduler` and `nodefusion cluster executor`: the processes of a
//! Ballista cluster, each running until stopped.

use nodefusion::cluster::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};

use super::ClusterCommand;

/// Runs the cluster process `command` names.
pub async fn run(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Scheduler {
            bind,
            executor_timeout,
        } => {
            run_scheduler(SchedulerOptions {
                bind,
                executor_timeout_seconds: executor_timeout,
            })
            .await?;
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            external_host,
            work_dir,
            heartbeat,
            slots,
        } => {
            let slots = slots.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            run_executor(ExecutorOptions {
                scheduler,
                bind,
                external_host,
                work_dir,
                heartbeat_seconds: heartbeat,
                slots,
            })
            .await?;
        }
    }
    Ok(())
}
