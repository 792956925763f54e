//! [`StateCache`]: the session state pipelines are planned with, made once per context and
//! made again only when what it was made from changes.
//!
//! Making it means building a new DataFusion `SessionState`, which registers every function
//! of the context again: about two thirds of compiling a small pipeline. A compiled
//! pipeline shares the cached state (a [`PlanningState`], with the task context its runs
//! execute with), and copies it only to change it: a scan batch size other than the
//! context's, or providers of its own (copying clones every function map twice, a fifth of
//! planning a small pipeline). The cache knows the context's state
//! by its session id, its options (the cache holds their `Arc`, so that a `SET` on the
//! context, which copies shared options before it writes them, gives new ones) and a digest
//! of its functions and planner rules (which `register_udf` and the like change in place).

use std::sync::{Arc, LazyLock, Mutex};

use datafusion::common::config::ConfigOptions;
use datafusion::execution::TaskContext;
use datafusion::execution::context::SessionState;

/// The contexts whose states are kept; the least recently used is dropped beyond it.
const CONTEXTS_KEPT: usize = 8;

/// What a pipeline state was made from: the state of a context, as far as planning sees it.
#[derive(Debug, Clone)]
pub struct Source {
    session_id: String,
    options: Arc<ConfigOptions>,
    digest: u64,
}

impl Source {
    /// What planning sees of the context state `state`.
    pub fn of(state: &SessionState) -> Self {
        Self {
            session_id: state.session_id().to_string(),
            options: Arc::clone(state.config_options()),
            digest: digest(state),
        }
    }

    /// Whether `other` is the same state of the same context.
    pub fn is(&self, other: &Source) -> bool {
        self.session_id == other.session_id
            && Arc::ptr_eq(&self.options, &other.options)
            && self.digest == other.digest
    }

    /// Whether `other` is of the same context, in this state or another.
    pub fn same_context(&self, other: &Source) -> bool {
        self.session_id == other.session_id
    }
}

/// A digest of the functions and planner rules of `state`: each by name and the address of
/// its implementation, in any order. It tells a change from no change, nothing more, and is
/// taken on every compile, so each entry is a multiply-rotate fold of its bytes (a few
/// nanoseconds) rather than a keyed hash.
fn digest(state: &SessionState) -> u64 {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let fold = |digest: u64, word: u64| (digest.rotate_left(23) ^ word).wrapping_mul(MULTIPLIER);
    let entry = |name: &str, address: *const ()| {
        let chunks = name.as_bytes().chunks(8).map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_le_bytes(word)
        });
        let digest = fold(name.len() as u64, address as usize as u64);
        chunks.fold(digest, fold)
    };
    fn address<T: ?Sized>(value: &Arc<T>) -> *const () {
        Arc::as_ptr(value).cast::<()>()
    }
    let functions = (state
        .scalar_functions()
        .iter()
        .map(|(name, f)| entry(name, address(f))))
    .chain(
        state
            .aggregate_functions()
            .iter()
            .map(|(name, f)| entry(name, address(f))),
    )
    .chain(
        state
            .window_functions()
            .iter()
            .map(|(name, f)| entry(name, address(f))),
    )
    .chain(
        state
            .table_functions()
            .iter()
            .map(|(name, f)| entry(name, address(f))),
    );
    let rules = (state
        .analyzer()
        .rules
        .iter()
        .map(|rule| entry(rule.name(), address(rule))))
    .chain(
        state
            .expr_planners()
            .iter()
            .map(|planner| entry("", address(planner))),
    );
    functions
        .chain(rules)
        .fold(0u64, |digest, entry| digest.wrapping_add(entry))
}

/// A session state to plan with, shared, and the task context runs planned with it execute
/// with.
#[derive(Debug, Clone)]
pub struct PlanningState {
    /// The state.
    pub state: Arc<SessionState>,
    /// Its task context.
    pub task: Arc<TaskContext>,
}

impl PlanningState {
    /// `state` and its task context.
    pub fn new(state: SessionState) -> Self {
        Self {
            task: state.task_ctx(),
            state: Arc::new(state),
        }
    }

    /// This state changed by `change` (copied first where it is shared), with its task
    /// context made again.
    pub fn changed(mut self, change: impl FnOnce(&mut SessionState)) -> Self {
        let state = Arc::make_mut(&mut self.state);
        change(state);
        self.task = state.task_ctx();
        self
    }
}

/// The pipeline states of the last few contexts.
#[derive(Debug, Default)]
pub struct StateCache {
    states: Mutex<Vec<(Source, PlanningState)>>,
}

impl StateCache {
    /// The cache of the process.
    pub fn shared() -> &'static StateCache {
        static CACHE: LazyLock<StateCache> = LazyLock::new(StateCache::default);
        &CACHE
    }

    /// The pipeline state for the context state `source`: the one kept, or one `make`
    /// makes (and that is kept).
    pub fn get_or_make(
        &self,
        source: &Source,
        make: impl FnOnce() -> SessionState,
    ) -> PlanningState {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(position) = states.iter().position(|(kept, _)| kept.is(source)) {
            let entry = states.remove(position);
            let state = entry.1.clone();
            states.push(entry);
            return state;
        }
        states.retain(|(kept, _)| !kept.same_context(source));
        let state = PlanningState::new(make());
        states.push((source.clone(), state.clone()));
        if states.len() > CONTEXTS_KEPT {
            states.remove(0);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    use datafusion::prelude::SessionContext;

    use super::*;

    /// Gets the state for `ctx` from `cache`, counting in `made` the states made.
    fn state_for(
        cache: &StateCache,
        ctx: &SessionContext,
        made: &AtomicUsize,
    ) -> Arc<SessionState> {
        let context = ctx.state_ref();
        let context = context.read();
        let planning = cache.get_or_make(&Source::of(&context), || {
            made.fetch_add(1, Ordering::SeqCst);
            context.clone()
        });
        planning.state
    }

    #[test]
    fn a_changed_state_is_a_copy_with_its_own_task_context() {
        let shared = PlanningState::new(SessionContext::new().state());
        let changed = shared.clone().changed(|state| {
            let seven = datafusion::common::config::ConfigNonZeroUsize::try_new(7).unwrap();
            state.config_mut().options_mut().execution.batch_size = seven;
        });
        assert_eq!(changed.task.session_config().batch_size(), 7);
        assert_eq!(changed.state.config().batch_size(), 7);
        assert_eq!(shared.task.session_config().batch_size(), 8192);
        assert_eq!(shared.state.config().batch_size(), 8192);
    }

    #[tokio::test]
    async fn a_state_is_made_again_only_when_the_contexts_options_or_functions_change() {
        let cache = StateCache::default();
        let made = AtomicUsize::new(0);
        let ctx = SessionContext::new();
        state_for(&cache, &ctx, &made);
        state_for(&cache, &ctx, &made);
        assert_eq!(made.load(Ordering::SeqCst), 1, "kept for the same context");

        ctx.sql("SET datafusion.execution.batch_size = 100")
            .await
            .unwrap();
        let state = state_for(&cache, &ctx, &made);
        assert_eq!(made.load(Ordering::SeqCst), 2, "made again after SET");
        assert_eq!(state.config().batch_size(), 100);
        state_for(&cache, &ctx, &made);
        assert_eq!(made.load(Ordering::SeqCst), 2);

        let udf = create_udf(
            "added_later",
            vec![DataType::Int64],
            DataType::Int64,
            Volatility::Immutable,
            Arc::new(|args: &[ColumnarValue]| Ok(args[0].clone())),
        );
        ctx.register_udf(udf);
        let state = state_for(&cache, &ctx, &made);
        assert_eq!(
            made.load(Ordering::SeqCst),
            3,
            "made again after a new function"
        );
        assert!(state.scalar_functions().contains_key("added_later"));

        let other = SessionContext::new();
        state_for(&cache, &other, &made);
        state_for(&cache, &ctx, &made);
        assert_eq!(made.load(Ordering::SeqCst), 4, "one state per context");
    }
}
