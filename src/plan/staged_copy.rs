//! SQL's `COPY ... TO` a local path, written aside and moved into place when complete: a
//! failed `COPY` leaves the target as it was (DataFusion's own sink leaves a complete-looking
//! file of the rows written before the failure, 0 rows when it fails at once). A single file
//! replaces the target; a directory's files are added to it, as DataFusion does.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::dml::CopyTo;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

use super::hive_partition_values;
use crate::exec::CommitExec;
use crate::io::{Staging, WriteMode};

/// The physical plan of `copy`: through staging when `stage_local` and it writes to a
/// local path, with Hive partition values (NULL as Hive's default partition) when it is
/// partitioned.
pub async fn plan_copy(
    planner: &DefaultPhysicalPlanner,
    copy: &CopyTo,
    stage_local: bool,
    session_state: &dyn Session,
) -> Result<Arc<dyn ExecutionPlan>> {
    let url = copy.output_url.as_str();
    let local = match url.split_once("://") {
        _ if !stage_local => None,
        None => Some(url),
        Some(("file", path)) => Some(path),
        Some(_) => None,
    };
    let single_file = copy.partition_by.is_empty()
        && match copy
            .options
            .get("single_file_output")
            .map(|value| value.trim())
        {
            Some("true") => true,
            Some("false") => false,
            _ => !url.ends_with('/') && PathBuf::from(url).extension().is_some(),
        };
    let mut staged = copy.clone();
    let staging = match local {
        Some(path) => {
            let mode = if single_file {
                WriteMode::Overwrite
            } else {
                WriteMode::Append
            };
            let staging = Staging::create(&PathBuf::from(path), single_file, mode)
                .map_err(|error| DataFusionError::External(Box::new(error)))?;
            staged.output_url = staging.write_path().to_string_lossy().into_owned();
            staged
                .options
                .insert("single_file_output".into(), single_file.to_string());
            Some(staging)
        }
        None => None,
    };
    let sink = planner
        .create_physical_plan(&LogicalPlan::Copy(staged), session_state)
        .await?;
    let sink = match sink.children().as_slice() {
        [rows] => {
            let rows = hive_partition_values(Arc::clone(rows), &copy.partition_by)?;
            Arc::clone(&sink).replace_children(
                vec![rows],
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
            )?
        }
        _ => sink,
    };
    Ok(match staging {
        Some(staging) => Arc::new(CommitExec::new(sink, staging)),
        None => sink,
    })
}
