//! A run whose output a cluster's executors write: over an input of files into a
//! directory in an object store, each part of the input is read, computed and written as
//! one Parquet file into the output's staging prefix by the executor that runs it
//! (`cluster::PartWriterExec`), which reports what its nodes did beside it
//! ([`PartReport`]); this process only plans, waits, gathers the reports and commits the
//! parts in input order. No row passes through it.

use std::time::Instant;

use datafusion::datasource::listing::ListingTableUrl;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::compile::CompiledPipeline;
use crate::error::{Error, Result};
use crate::io::{Location, Output, run_mark};
use crate::run::{ClusterRun, NodeTiming, RemoteRunner, RunSummary};

/// Where and how a cluster's executors write the parts of an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsTarget {
    /// The URL of the staging prefix (with its trailing slash).
    pub staging_url: String,
    /// This run's mark, in every file's name (`part-00003-RUN.parquet`).
    pub run: String,
    /// The Parquet codec (`zstd(3)`, `snappy`, ...).
    pub compression: String,
    /// The most rows per row group.
    pub row_group_rows: usize,
}

/// What one part's nodes did, as its task reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartReport {
    /// Rows written.
    pub rows: usize,
    /// Per node, in the pipeline's order.
    pub nodes: Vec<NodeTiming>,
}

/// Where the report of part `part` is kept in the staging prefix.
pub fn report_key(part: usize) -> String {
    format!("{REPORTS}/part-{part:05}.json")
}

/// The folder of the parts' reports in the staging prefix.
const REPORTS: &str = "_parts";

impl CompiledPipeline {
    /// Runs the pipeline on `remote` with its output's parts written by the executors, and
    /// commits them: `None` (nothing done) where the output is not a directory in an object
    /// store without partitioning, or the plan cannot be cut into parts of files.
    pub(crate) async fn write_by_executors(
        &self,
        output: &Output,
        remote: &RemoteRunner,
    ) -> Result<Option<RunSummary>> {
        let started = Instant::now();
        let location = output.location()?;
        let directory_in_store = matches!(location, Location::Store(_))
            && !output.is_single_file()
            && output.partition_columns().is_empty();
        if !directory_in_store {
            return Ok(None);
        }
        self.check_partition_columns(output)?;
        let runtime = self.session_state().runtime_env();
        let staging = output.stage(runtime).await?;
        let target = PartsTarget {
            staging_url: staging.write_path(),
            run: run_mark(),
            compression: output.compression_name().to_string(),
            row_group_rows: output.row_group_rows(),
        };
        let plan = self.instance()?;
        let ran =
            (remote.write_parts)(plan, target.clone(), self.node_operators().to_vec()).await?;
        if !ran {
            return Ok(None);
        }
        let reports = read_reports(&target.staging_url, runtime).await?;
        let mut nodes: Vec<NodeTiming> = Vec::new();
        let mut rows = 0;
        for report in &reports {
            rows += report.rows;
            for (index, node) in report.nodes.iter().enumerate() {
                match nodes.get_mut(index) {
                    Some(total) => *total += node,
                    None => nodes.push(node.clone()),
                }
            }
        }
        let cleared = staging.cleared().to_vec();
        let files = staging.commit().await?;
        Ok(Some(RunSummary {
            pipeline: self.graph().name.clone(),
            rows_in: rows,
            rows_out: rows,
            wall_time: started.elapsed(),
            nodes,
            files,
            cleared,
            cluster: Some(ClusterRun {
                cluster: remote.name.clone(),
                executors_wrote: true,
            }),
        }))
    }
}

/// The reports of every part in the staging prefix at `staging_url`, in part order.
async fn read_reports(
    staging_url: &str,
    runtime: &datafusion::execution::runtime_env::RuntimeEnv,
) -> Result<Vec<PartReport>> {
    let failed = |message: String| Error::Store {
        url: staging_url.to_string(),
        message,
    };
    let url = ListingTableUrl::parse(staging_url).map_err(|error| failed(error.to_string()))?;
    let store = runtime
        .object_store(url.object_store())
        .map_err(|error| failed(error.to_string()))?;
    let folder = url.prefix().clone().join(REPORTS);
    let mut listed: Vec<_> = store
        .list(Some(&folder))
        .try_collect()
        .await
        .map_err(|error| failed(error.to_string()))?;
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let mut reports = Vec::new();
    for object in listed {
        let bytes = store
            .get(&object.location)
            .await
            .map_err(|error| failed(error.to_string()))?
            .bytes()
            .await
            .map_err(|error| failed(error.to_string()))?;
        let report = serde_json::from_slice(&bytes)
            .map_err(|error| failed(format!("{}: {error}", object.location)))?;
        reports.push(report);
    }
    Ok(reports)
}
