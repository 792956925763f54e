//! SQL's `COPY ... TO` a local path or an object store URL, written aside and put in place
//! when complete: a failed `COPY` leaves the target as it was (DataFusion's own sink leaves
//! a complete-looking file of the rows written before the failure, 0 rows when it fails at
//! once). A single file replaces the target; a directory's files are added to it, as
//! DataFusion does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::dml::CopyTo;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

use super::{columns_to_write, plain_columns};
use crate::exec::CommitExec;
use crate::io::{Location, Staging, WriteMode};

/// The physical plan of `copy`: through staging when `staged` (not on a cluster's
/// scheduler, which writes in place), with Hive partition values (NULL as Hive's default
/// partition) when it is partitioned.
pub async fn plan_copy(
    planner: &DefaultPhysicalPlanner,
    copy: &CopyTo,
    staged: bool,
    session_state: &dyn Session,
) -> Result<Arc<dyn ExecutionPlan>> {
    let url = copy.output_url.as_str();
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
    let mut written = copy.clone();
    written.input = Arc::new(plain_columns(LogicalPlan::clone(&copy.input))?);
    let staging = match staged {
        true => {
            let mode = if single_file {
                WriteMode::Overwrite
            } else {
                WriteMode::Append
            };
            let external = |error: crate::Error| DataFusionError::External(Box::new(error));
            let target = Location::parse(Path::new(url)).map_err(external)?;
            let runtime = Arc::clone(session_state.runtime_env());
            let staging = Staging::create(target, single_file, mode, runtime)
                .await
                .map_err(external)?;
            written.output_url = staging.write_path();
            written
                .options
                .insert("single_file_output".into(), single_file.to_string());
            Some(staging)
        }
        false => None,
    };
    let sink = planner
        .create_physical_plan(&LogicalPlan::Copy(written), session_state)
        .await?;
    let sink = match sink.children().as_slice() {
        [rows] => {
            let rows = columns_to_write(Arc::clone(rows), &copy.partition_by)?;
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
