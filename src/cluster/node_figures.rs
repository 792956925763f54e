//! [`node_figures`]: the figures of a pipeline's nodes in a job that ran on a cluster, from
//! the metrics its executors reported to the scheduler (`GetJobMetrics`: each stage's
//! operators, their metrics summed over the stage's tasks).

use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{GetJobMetricsParams, OperatorMetricsSet};
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_connection};
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;

use super::spread::NodeOperatorsSent;
use crate::run::NodeTiming;

/// The figures of `nodes` (with the operators computing each in the plan sent) in job
/// `job_id` of the scheduler at `scheduler`, in the order of `nodes`; `None` when the
/// scheduler has none for an operator (it is out of reach, or a task reported no metrics).
pub async fn node_figures(
    scheduler: &str,
    grpc: &GrpcClientConfig,
    job_id: &str,
    nodes: &[NodeOperatorsSent],
) -> Option<Vec<NodeTiming>> {
    let channel = create_grpc_client_connection(scheduler.to_string(), grpc)
        .await
        .ok()?;
    let stages = SchedulerGrpcClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .get_job_metrics(GetJobMetricsParams {
            job_id: job_id.to_string(),
        })
        .await
        .ok()?
        .into_inner()
        .stages;
    let reported: Vec<_> = stages.iter().flat_map(|stage| &stage.operators).collect();
    let mut taken = vec![false; reported.len()];
    let mut figures = Vec::with_capacity(nodes.len());
    for node in nodes {
        let mut metrics = Vec::with_capacity(node.operators.len());
        for operator in &node.operators {
            // The scheduler's copy of the operator, told apart from others by its kind and
            // its one-line description (the plan it holds is the one sent, decoded).
            let description = DisplayableExecutionPlan::new(operator.as_ref())
                .one_line()
                .to_string();
            let found = (0..reported.len()).find(|&index| {
                !taken[index]
                    && reported[index].operator_type == operator.name()
                    && reported[index].operator_desc.trim() == description.trim()
            })?;
            taken[found] = true;
            let set: MetricsSet = OperatorMetricsSet {
                metrics: reported[found].metrics.clone(),
            }
            .try_into()
            .ok()?;
            metrics.push(set);
        }
        figures.push(NodeTiming::of_metrics(&node.node, &metrics));
    }
    Some(figures)
}
