//! [`FuseCalls`]: the physical rule that evaluates SQL's projections with the fused forms
//! of their calls ([`LoweredClassReplacement`]), as pipeline nodes are: `SELECT
//! regexp_replace(lower(text), '[^a-z0-9 ]', '', 'g') FROM ...` makes one pass over each row
//! where the two calls make two. It runs before DataFusion's own rules, so the projection
//! that the scan takes in carries the fused form; plans show and travel as written.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use nodefusion_udfs::text::LoweredClassReplacement;

/// Rewrites each projection's expressions into their fused forms.
#[derive(Debug, Default)]
pub struct FuseCalls;

impl PhysicalOptimizerRule for FuseCalls {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(projection) = node.downcast_ref::<ProjectionExec>() else {
                return Ok(Transformed::no(node));
            };
            let mut fused_any = false;
            let expressions = projection
                .expr()
                .iter()
                .map(|projected| {
                    let fused = LoweredClassReplacement::fuse_within(&projected.expr);
                    fused_any |= fused.transformed;
                    ProjectionExpr::new(fused.data, projected.alias.clone())
                })
                .collect::<Vec<_>>();
            if !fused_any {
                return Ok(Transformed::no(node));
            }
            let fused = ProjectionExec::try_new_with_schema_metadata(
                expressions,
                Arc::clone(projection.input()),
                &projection.schema(),
            )?;
            Ok(Transformed::yes(Arc::new(fused) as Arc<dyn ExecutionPlan>))
        })
        .map(|rewritten| rewritten.data)
    }

    fn name(&self) -> &str {
        "fuse_calls"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
