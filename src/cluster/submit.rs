//! [`run_job`]: a physical plan run as a job of a cluster, waited for until it ends; where
//! its output partitions are, on success. The job is cancelled on the scheduler when the
//! wait is dropped before its end (the run was interrupted, or failed here), so that no job
//! runs on that nobody waits for.

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
use std::sync::Arc;
use tonic::transport::Channel;

use super::NodefusionPhysicalCodec;
use crate::io::cleanup_now;

/// How often the job's status is asked for.
const STATUS_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `plan` on the cluster whose scheduler is at `scheduler` (`http://HOST:PORT`; the
/// cluster is `name` in errors) with the options of `config`, and waits until the job has
/// succeeded (where its output partitions are), or failed (an error with the job's own).
pub async fn run_job(
    scheduler: &str,
    name: &str,
    plan: Arc<dyn ExecutionPlan>,
    config: &SessionConfig,
) -> Result<Vec<PartitionLocation>> {
    let failed =
        |message: String| DataFusionError::Execution(format!("cluster at {name}: {message}"));
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
    let submitted = client
        .execute_query(request)
        .await
        .map_err(|status| {
            failed(format!(
                "the scheduler refused the job: {}",
                status.message()
            ))
        })?
        .into_inner();
    let job_id = match submitted.result {
        Some(execute_query_result::Result::Success(success)) => success.job_id,
        other => return Err(failed(format!("the scheduler refused the job: {other:?}"))),
    };
    let mut waiting = Waiting {
        client: client.clone(),
        job_id: job_id.clone(),
        ended: false,
    };
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
                return Ok(job.partition_location);
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
    client: SchedulerGrpcClient<Channel>,
    job_id: String,
    ended: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut client = self.client.clone();
        let job_id = std::mem::take(&mut self.job_id);
        cleanup_now(async move {
            let _ = client.cancel_job(CancelJobParams { job_id }).await;
        });
    }
}
