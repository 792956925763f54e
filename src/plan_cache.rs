//! [`PlanCache`]: the plans of pipelines over rows in memory, kept so that a pipeline built
//! again from the same code and compiled again over new rows is not planned again.
//!
//! A service that answers each request with `Pipeline::new(..)...compile(ctx, &input)` and
//! runs it would otherwise plan the same pipeline for every request: most of a one-shot run
//! over a few thousand rows. A plan is kept for a pipeline that compares equal (same
//! nodes, wiring, settings and functions; a closure is the same function when it captures
//! nothing and is of the same type, see `nodefusion_function::UserFunction`), over rows of
//! the same schema, in the same state of the same context (the [`Source`] of its state:
//! its options, functions and planner rules). Plans of pipelines with a function that
//! holds values of its own (a closure that captures, a user's `ScalarUDFImpl`) are not
//! kept: they could never be found again, and keeping them would keep those values alive.
//! Kept plans hold no rows: the rows of each compile are scanned by a plan of their own.

use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::datatypes::SchemaRef;
use nodefusion_function::UserFunction;

use crate::pipeline::{NodeBody, Pipeline};
use crate::state_cache::Source;

/// The plans kept; the least recently used is dropped beyond it.
const PLANS_KEPT: usize = 32;

/// A kept plan, and what it was planned for.
#[derive(Debug)]
struct KeptPlan<T> {
    source: Source,
    pipeline: Pipeline,
    schema: SchemaRef,
    plan: Arc<T>,
}

/// Plans (`T`: a compiled pipeline) by the pipeline, the input schema and the context
/// state they were planned for.
#[derive(Debug)]
pub struct PlanCache<T> {
    plans: Mutex<Vec<KeptPlan<T>>>,
}

impl<T> Default for PlanCache<T> {
    fn default() -> Self {
        Self {
            plans: Mutex::new(Vec::new()),
        }
    }
}

/// Whether a plan of `pipeline` may be kept: every function given as a value is a
/// closure or kernel that captures nothing, nested pipelines included.
pub fn can_keep(pipeline: &Pipeline) -> bool {
    pipeline.nodes.iter().all(|node| match &node.function {
        NodeBody::Named(_) | NodeBody::Sql(_) => true,
        NodeBody::Udf(udf) => udf
            .inner()
            .downcast_ref::<UserFunction>()
            .is_some_and(UserFunction::captures_nothing),
        NodeBody::Pipeline(inner) => can_keep(inner),
        // Imported when the pipeline is compiled; the module may have changed since.
        NodeBody::Python(_) => false,
    })
}

impl<T> PlanCache<T> {
    /// The plan kept for `pipeline` over rows of `schema` in the context state `source`.
    pub fn get(&self, source: &Source, pipeline: &Pipeline, schema: &SchemaRef) -> Option<Arc<T>> {
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        let position = plans.iter().position(|kept| {
            kept.source.is(source) && kept.schema == *schema && kept.pipeline == *pipeline
        })?;
        let kept = plans.remove(position);
        let plan = Arc::clone(&kept.plan);
        plans.push(kept);
        Some(plan)
    }

    /// Keeps `plan`, planned for `pipeline` over rows of `schema` in the state `source`.
    pub fn keep(&self, source: Source, pipeline: &Pipeline, schema: &SchemaRef, plan: Arc<T>) {
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        // A context whose state changed has no use for the plans of its old state.
        plans.retain(|kept| {
            !(kept.source.same_context(&source) && !kept.source.is(&source)
                || kept.source.is(&source) && kept.schema == *schema && kept.pipeline == *pipeline)
        });
        plans.push(KeptPlan {
            source,
            pipeline: pipeline.clone(),
            schema: Arc::clone(schema),
            plan,
        });
        if plans.len() > PLANS_KEPT {
            plans.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::pipeline::Node;

    fn pipeline() -> Pipeline {
        Pipeline::new("p")
            .node(Node::row_fn("plus", |x: i64| x + 1).inputs(["x"]))
            .node(Node::sql("big", "plus > 10"))
            .node(Node::function("words", "word_count").inputs(["s"]))
    }

    fn schema(x: DataType) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("x", x, false),
            Field::new("s", DataType::Utf8, false),
        ]))
    }

    fn source(ctx: &SessionContext) -> Source {
        Source::of(&ctx.state())
    }

    #[test]
    fn only_pipelines_whose_functions_capture_nothing_are_kept() {
        assert!(can_keep(&pipeline()));
        let nested = Pipeline::new("outer").node(Node::pipeline("inner", pipeline()));
        assert!(can_keep(&nested));
        let step = 2;
        let capturing = Node::row_fn("plus", move |x: i64| x + step).inputs(["x"]);
        assert!(!can_keep(&pipeline().node(capturing.clone())));
        let nested = Pipeline::new("outer")
            .node(Node::pipeline("inner", Pipeline::new("i").node(capturing)));
        assert!(!can_keep(&nested));
        let own = create_udf(
            "own",
            vec![DataType::Int64],
            DataType::Int64,
            Volatility::Immutable,
            Arc::new(|args: &[ColumnarValue]| Ok(args[0].clone())),
        );
        assert!(!can_keep(&pipeline().node(Node::udf("own", own))));
    }

    #[test]
    fn a_plan_is_found_for_the_same_pipeline_built_again_schema_and_context_state() {
        let cache = PlanCache::default();
        let ctx = SessionContext::new();
        let int64 = schema(DataType::Int64);
        cache.keep(source(&ctx), &pipeline(), &int64, Arc::new("planned"));
        assert_eq!(
            cache.get(&source(&ctx), &pipeline(), &int64).as_deref(),
            Some(&"planned")
        );
        let renamed = pipeline().node(Node::sql("small", "plus < 3"));
        assert!(cache.get(&source(&ctx), &renamed, &int64).is_none());
        assert!(
            cache
                .get(&source(&ctx), &pipeline(), &schema(DataType::Int32))
                .is_none()
        );
        let other = SessionContext::new();
        assert!(cache.get(&source(&other), &pipeline(), &int64).is_none());
    }

    #[tokio::test]
    async fn the_plans_of_a_context_are_dropped_when_its_state_changes() {
        let cache = PlanCache::default();
        let ctx = SessionContext::new();
        let int64 = schema(DataType::Int64);
        let before = source(&ctx);
        cache.keep(before.clone(), &pipeline(), &int64, Arc::new(1));
        ctx.sql("SET datafusion.execution.batch_size = 100")
            .await
            .unwrap();
        let after = source(&ctx);
        assert!(cache.get(&after, &pipeline(), &int64).is_none());
        cache.keep(after.clone(), &pipeline(), &int64, Arc::new(2));
        assert!(cache.get(&before, &pipeline(), &int64).is_none());
        assert_eq!(cache.get(&after, &pipeline(), &int64).as_deref(), Some(&2));
    }

    #[test]
    fn the_least_recently_used_plan_goes_first() {
        let cache = PlanCache::default();
        let ctx = SessionContext::new();
        let int64 = schema(DataType::Int64);
        let numbered = |n: usize| Pipeline::new(format!("p{n}"));
        for n in 0..PLANS_KEPT {
            cache.keep(source(&ctx), &numbered(n), &int64, Arc::new(n));
        }
        assert!(cache.get(&source(&ctx), &numbered(0), &int64).is_some());
        cache.keep(
            source(&ctx),
            &numbered(PLANS_KEPT),
            &int64,
            Arc::new(PLANS_KEPT),
        );
        assert!(cache.get(&source(&ctx), &numbered(0), &int64).is_some());
        assert!(cache.get(&source(&ctx), &numbered(1), &int64).is_none());
        assert!(
            cache
                .get(&source(&ctx), &numbered(PLANS_KEPT), &int64)
                .is_some()
        );
    }
}
