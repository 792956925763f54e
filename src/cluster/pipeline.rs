//! [`cluster_runner`]: how a compiled pipeline runs on a cluster. The plan compiled here
//! is sent as a physical plan, in its [`spread`] form where its input is files (the same
//! operators a local run executes, over parts of the input that run on every executor).
//! An output that is a directory in an object store is written by the executors
//! themselves, each part into the output's staging ([`spread_writing`], [`run_job`]); any
//! other output gets the rows back in this process's Parquet sink.

use std::sync::Arc;

use ballista::prelude::SessionConfigExt;
use datafusion::physical_plan::ExecutionPlan;
use futures::FutureExt;

use super::address::reach_scheduler;
use super::job::ClusterJobExec;
use super::session::with_cluster_codecs;
use super::spread::{PlanSent, spread, spread_writing};
use super::submit::run_job;
use crate::compile::CompiledPipeline;
use crate::error::Result;
use crate::run::{RemoteRunner, RowsBack};

/// The runner of `compiled`'s plan on the cluster at `url` (`df://HOST:PORT`), for
/// [`CompiledPipeline::write_observed_on`]; an error if the scheduler is out of reach.
pub async fn cluster_runner(url: &str, compiled: &CompiledPipeline) -> Result<RemoteRunner> {
    let scheduler = reach_scheduler(url).await?;
    let name = url.to_string();
    let config = compiled.session_state().config().clone();
    let parts = compiled.graph().defaults.effective_partitions();
    let node_operators = compiled.node_operators().to_vec();
    let job = {
        let (scheduler, name, config) = (scheduler.clone(), name.clone(), config.clone());
        Box::new(move |plan: Arc<dyn ExecutionPlan>| {
            let sent = match spread(&plan, parts, &node_operators)? {
                Some(spread) => spread,
                None => PlanSent::as_compiled(plan, &node_operators),
            };
            let figures = Arc::default();
            let plan = Arc::new(ClusterJobExec::new(
                sent.plan,
                scheduler.clone(),
                name.clone(),
                &config,
                sent.nodes,
                Arc::clone(&figures),
            ));
            Ok(RowsBack {
                plan,
                nodes: figures,
            })
        })
    };
    let job_config = with_cluster_codecs(config.upgrade_for_ballista());
    let write_parts = {
        let name = name.clone();
        Box::new(move |plan, target, nodes: Vec<_>| {
            let (scheduler, name, config) = (scheduler.clone(), name.clone(), job_config.clone());
            async move {
                let Some(plan) = spread_writing(&plan, parts, target, &nodes)? else {
                    return Ok(false);
                };
                // The job's result (a row per part) is not read: the reports say more.
                run_job(&scheduler, &name, plan, &config).await?;
                Ok(true)
            }
            .boxed()
        })
    };
    Ok(RemoteRunner {
        name,
        job,
        write_parts,
    })
}
