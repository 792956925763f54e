//! [`cluster_runner`]: how a compiled pipeline runs on a cluster. The plan compiled here
//! is sent as a physical plan, in its [`spread`] form where its input is files (the same
//! operators a local run executes, over parts of the input that run on every executor), and
//! its rows come back to this process's Parquet sink.

use std::sync::Arc;

use super::address::reach_scheduler;
use super::job::ClusterJobExec;
use super::spread::spread;
use crate::compile::CompiledPipeline;
use crate::error::Result;
use crate::run::RemoteRunner;

/// The runner of `compiled`'s plan on the cluster at `url` (`df://HOST:PORT`), for
/// [`CompiledPipeline::write_observed_on`]; an error if the scheduler is out of reach.
pub async fn cluster_runner(url: &str, compiled: &CompiledPipeline) -> Result<RemoteRunner> {
    let scheduler = reach_scheduler(url).await?;
    let name = url.to_string();
    let config = compiled.session_state().config().clone();
    let parts = compiled.graph().defaults.effective_partitions();
    Ok(RemoteRunner {
        name: name.clone(),
        job: Box::new(move |plan| {
            let plan = spread(&plan, parts)?.unwrap_or(plan);
            Ok(Arc::new(ClusterJobExec::new(
                plan,
                scheduler.clone(),
                name.clone(),
                &config,
            )))
        }),
    })
}
