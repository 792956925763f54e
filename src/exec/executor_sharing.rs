//! [`ExecutorSharing`]: what the tasks of one cluster executor process share. Switched on
//! by the executor at start ([`share_across_tasks`]); a local run never uses it.
//!
//! - The tasks of one job that run the same node at once share that node's run state (its
//!   instance pool, its limit of calls in flight): `max_concurrency` holds per executor, and
//!   a node without one gets as many instances as the executor has slots.
//! - Instances of stateful functions outlive their tasks ([`IdleInstances`]): the next task
//!   of the executor, of this job or a later one, takes them instead of building anew.
//!   Every instance built is announced on the executor's standard error.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use datafusion::common::{Result, internal_datafusion_err};
use datafusion::execution::TaskContext;

use super::idle_instances::IdleInstances;

/// How long an executor keeps an idle instance.
const KEEP_IDLE: Duration = Duration::from_secs(600);

/// What an executor process's tasks share.
pub struct ExecutorSharing {
    /// Tasks the executor runs at once.
    pub slots: usize,
    /// Instances between tasks.
    pub instances: IdleInstances,
    /// Run states by job and node, while a task of theirs runs.
    runs: Mutex<HashMap<(String, String), Weak<dyn Any + Send + Sync>>>,
}

static SHARING: OnceLock<ExecutorSharing> = OnceLock::new();

/// Makes this process an executor's whose tasks share run states and instances; it runs
/// `slots` tasks at once. Idle instances are torn down after ten minutes.
pub fn share_across_tasks(slots: usize) {
    let sharing = SHARING.get_or_init(|| ExecutorSharing {
        slots: slots.max(1),
        instances: IdleInstances::new(KEEP_IDLE),
        runs: Mutex::new(HashMap::new()),
    });
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(KEEP_IDLE / 10);
            sharing.instances.evict_expired();
        }
    });
}

/// This process's sharing, if it is an executor's.
pub fn executor_sharing() -> Option<&'static ExecutorSharing> {
    SHARING.get()
}

/// The job a task of a Ballista executor belongs to: its task id reads
/// `TID JOB/STAGE.ATTEMPT/TASK.ATTEMPT`.
fn job_of(context: &TaskContext) -> Option<String> {
    let task = context.task_id()?;
    let job = task.strip_prefix("TID ")?.split('/').next()?;
    Some(job.to_string())
}

impl ExecutorSharing {
    /// The run state of `node` for the job of `context`: the one its running tasks share,
    /// or a new one from `make`. A task outside a job (no task id) gets its own.
    pub fn run_of<T: Send + Sync + 'static>(
        &self,
        context: &TaskContext,
        node: &str,
        make: impl FnOnce() -> Result<Arc<T>>,
    ) -> Result<Arc<T>> {
        let Some(job) = job_of(context) else {
            return make();
        };
        let mut runs = self
            .runs
            .lock()
            .map_err(|_| internal_datafusion_err!("the executor's run states are poisoned"))?;
        runs.retain(|_, run| run.strong_count() > 0);
        let key = (job, node.to_string());
        if let Some(run) = runs.get(&key).and_then(Weak::upgrade)
            && let Ok(run) = run.downcast::<T>()
        {
            return Ok(run);
        }
        let run = make()?;
        let shared: Arc<dyn Any + Send + Sync> = run.clone();
        runs.insert(key, Arc::downgrade(&shared));
        Ok(run)
    }
}
