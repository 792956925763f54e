//! [`run_job`]: a physical plan run as a job of a cluster, waited for until it ends; the
//! job's id and where its output partitions are, on success ([`FinishedJob`]). The job is cancelled on the scheduler when the
//! wait is dropped before its end (the run was interrupted, or failed here), so that no job
//! runs on that nobody waits for; [`cancel_waited_jobs`] cancels every job still waited
//! for at once, for a process about to exit (a drop's cancel may not run before it does).

use std::time::Duration;

use ballista::prelude::SessionConfigExt;
use ballista_core::serde::protobuf::execute_query_params::Query;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{
    CancelJobParams, ExecuteQueryParams, GetJobStatusParams, KeyValuePair, PartitionLocation,
    execute_query_result, job_status,
};
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_connection};
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use prost::Message;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use super::NodefusionPhysicalCodec;
use crate::io::cleanup_now;

/// How often the job's status is asked for.
const STATUS_INTERVAL: Duration = Duration::from_millis(100);

/// How long [`cancel_waited_jobs`] waits for the answers to submissions in flight.
const SUBMISSIONS_WAIT: Duration = Duration::from_secs(5);

/// The jobs this process waits for.
static WAITED: Mutex<Waited> = Mutex::new(Waited {
    submitting: 0,
    jobs: Vec::new(),
});

/// The jobs this process waits for, by id, with their scheduler, and how many
/// submissions have no answer yet (the scheduler may start a job's tasks before it answers).
struct Waited {
    submitting: usize,
    jobs: Vec<(String, SchedulerAt)>,
}

/// How to reach a job's scheduler. A cancel connects anew: the connection a job was
/// submitted on may be gone with the run that was dropped (its task is dropped with it).
#[derive(Clone)]
struct SchedulerAt {
    address: String,
    grpc: GrpcClientConfig,
}

/// A submission without an answer yet, counted in [`Waited`] while it lives.
struct Submitting;

impl Submitting {
    fn start() -> Self {
        if let Ok(mut waited) = WAITED.lock() {
            waited.submitting += 1;
        }
        Self
    }
}

impl Drop for Submitting {
    fn drop(&mut self) {
        if let Ok(mut waited) = WAITED.lock() {
            waited.submitting -= 1;
        }
    }
}

/// A job that succeeded.
#[derive(Debug)]
pub struct FinishedJob {
    /// Its id on the scheduler.
    pub id: String,
    /// Where its output partitions are.
    pub locations: Vec<PartitionLocation>,
}

/// Runs `plan` on the cluster whose scheduler is at `scheduler` (`http://HOST:PORT`; the
/// cluster is `name` in errors) with the options of `config`, and waits until the job has
/// succeeded, or failed (an error with the job's own).
pub async fn run_job(
    scheduler: &str,
    name: &str,
    plan: Arc<dyn ExecutionPlan>,
    config: &SessionConfig,
) -> Result<FinishedJob> {
    let cluster = name.to_string();
    let failed = move |message: String| {
        DataFusionError::Execution(format!("cluster at {cluster}: {message}"))
    };
    let codec = NodefusionPhysicalCodec::default();
    let encoded = PhysicalPlanNode::try_from_physical_plan(plan, &codec)?.encode_to_vec();
    let settings = config
        .options()
        .entries()
        .into_iter()
        .map(|entry| KeyValuePair {
            key: entry.key,
            value: entry.value,
        })
        .collect();
    let session_id = format!(
        "nodefusion-{}-{}",
        std::process::id(),
        crate::io::run_mark()
    );
    let grpc = GrpcClientConfig::from(&config.ballista_config());
    let channel = create_grpc_client_connection(scheduler.to_string(), &grpc)
        .await
        .map_err(|error| failed(format!("cannot reach the scheduler: {error}")))?;
    let mut client = SchedulerGrpcClient::new(channel)
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX);
    let mut request = tonic::Request::new(ExecuteQueryParams {
        query: Some(Query::PhysicalPlan(encoded)),
        settings,
        session_id,
        operation_id: crate::io::run_mark(),
    });
    ballista_core::version::insert_version_header(request.metadata_mut());
    // The submission runs on a task of its own, to its answer even where this wait is
    // dropped (the scheduler may have started the job's tasks before it answers): then the
    // job is cancelled there, and until then `cancel_waited_jobs` waits for it.
    let submitting = Submitting::start();
    let (answer, answered) = oneshot::channel();
    let mut submitter = client.clone();
    let scheduler_at = SchedulerAt {
        address: scheduler.to_string(),
        grpc: grpc.clone(),
    };
    let refused = failed.clone();
    tokio::spawn(async move {
        let _submitting = submitting;
        let waiting = match submitter.execute_query(request).await {
            Err(status) => Err(refused(format!(
                "the scheduler refused the job: {}",
                status.message()
            ))),
            Ok(submitted) => match submitted.into_inner().result {
                Some(execute_query_result::Result::Success(success)) => {
                    Ok(Waiting::new(scheduler_at, success.job_id))
                }
                other => Err(refused(format!("the scheduler refused the job: {other:?}"))),
            },
        };
        // Nobody waits any more: the returned wait is dropped here, which cancels the job.
        let _ = answer.send(waiting);
    });
    let mut waiting = answered
        .await
        .map_err(|_| failed("the job's submission was lost".to_string()))??;
    let job_id = waiting.job_id.clone();
    loop {
        let status = client
            .get_job_status(GetJobStatusParams {
                job_id: job_id.clone(),
            })
            .await
            .map_err(|status| failed(format!("job {job_id}: {}", status.message())))?
            .into_inner()
            .status
            .and_then(|status| status.status);
        match status {
            Some(job_status::Status::Successful(job)) => {
                waiting.ended = true;
                return Ok(FinishedJob {
                    id: job_id,
                    locations: job.partition_location,
                });
            }
            Some(job_status::Status::Failed(failure)) => {
                waiting.ended = true;
                return Err(failed(format!("job {job_id} failed: {}", failure.error)));
            }
            _ => tokio::time::sleep(STATUS_INTERVAL).await,
        }
    }
}

/// A job being waited for; cancelled when dropped before it ended.
struct Waiting {
    scheduler: SchedulerAt,
    job_id: String,
    ended: bool,
}

impl Waiting {
    fn new(scheduler: SchedulerAt, job_id: String) -> Self {
        if let Ok(mut waited) = WAITED.lock() {
            waited.jobs.push((job_id.clone(), scheduler.clone()));
        }
        Self {
            scheduler,
            job_id,
            ended: false,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let job_id = std::mem::take(&mut self.job_id);
        if self.ended {
            forget_waited(&job_id);
            return;
        }
        // Forgotten only once cancelled: a process exiting meanwhile cancels it itself
        // (`cancel_waited_jobs`), where this cancel may be cut short by the runtime's end.
        let scheduler = self.scheduler.clone();
        cleanup_now(async move {
            cancel(scheduler, job_id.clone()).await;
            forget_waited(&job_id);
        });
    }
}

/// Takes job `job_id` out of the jobs this process waits for.
fn forget_waited(job_id: &str) {
    if let Ok(mut waited) = WAITED.lock() {
        waited.jobs.retain(|(waited, _)| waited != job_id);
    }
}

/// Cancels job `job_id` on its scheduler (an error is nothing to act on: the job has ended,
/// or the scheduler is gone and the job with it).
async fn cancel(scheduler: SchedulerAt, job_id: String) {
    if let Ok(channel) = create_grpc_client_connection(scheduler.address, &scheduler.grpc).await {
        let _ = SchedulerGrpcClient::new(channel)
            .cancel_job(CancelJobParams { job_id })
            .await;
    }
}

/// Cancels every job this process still waits for, and those whose submission is answered
/// within a few seconds, and returns when the scheduler has answered each cancel: for a
/// process about to exit (interrupted), whose waits may be dropped only as it ends, too late
/// for their own cancel.
pub async fn cancel_waited_jobs() {
    let deadline = tokio::time::Instant::now() + SUBMISSIONS_WAIT;
    loop {
        let (jobs, submitting) = WAITED
            .lock()
            .map(|mut waited| (std::mem::take(&mut waited.jobs), waited.submitting))
            .unwrap_or_default();
        futures::future::join_all(
            jobs.into_iter()
                .map(|(job_id, scheduler)| cancel(scheduler, job_id)),
        )
        .await;
        if submitting == 0 || tokio::time::Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
