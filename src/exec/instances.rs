//! [`InstancePool`]: the instances of a stateful or isolated function for one run of a
//! node. Each
//! partition builds its own instance on its first batch while fewer than `capacity` exist
//! and keeps using it; beyond that, partitions take turns with the instances there are,
//! one batch at a time (never holding one while they wait, so that the ordered gather
//! above them cannot deadlock). The last partition to finish tears them all down; on a
//! cluster's executor they are kept for its next tasks instead ([`super::executor_sharing`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, exec_datafusion_err};
use datafusion::physical_plan::metrics::{Count, Time};
use nodefusion_function::{
    Computed, FunctionInstance, FunctionMeta, InitOptions, IsolatedFunction, IsolatedInstance,
    IsolationOptions, StatefulFunction,
};
use tokio::sync::Notify;

use super::executor_sharing::executor_sharing;

/// The function a pool builds instances of.
pub enum InstanceSource {
    /// A stateful function: its instances compute on the caller's thread.
    Stateful(Arc<dyn StatefulFunction>),
    /// An isolated function, with the node's settings for its instances.
    Isolated(Arc<dyn IsolatedFunction>, IsolationOptions),
}

impl InstanceSource {
    fn meta(&self) -> &dyn FunctionMeta {
        match self {
            Self::Stateful(function) => function.as_ref(),
            Self::Isolated(function, _) => function.as_ref(),
        }
    }
}

/// An instance of a stateful or an isolated function.
pub enum Instance {
    /// Computes on the caller's thread.
    Inline(Box<dyn FunctionInstance>),
    /// Computes on a thread or in a process of its own, awaited.
    Isolated(Box<dyn IsolatedInstance>),
}

impl Instance {
    /// Computes one batch.
    pub async fn process(&mut self, args: &[ArrayRef]) -> Result<Computed> {
        match self {
            Self::Inline(instance) => instance.process(args).map(Computed::from),
            Self::Isolated(instance) => instance.process(args).await,
        }
    }

    async fn teardown(&mut self) -> Result<()> {
        match self {
            Self::Inline(instance) => instance.teardown(),
            Self::Isolated(instance) => instance.teardown().await,
        }
    }
}

/// An instance checked out of the pool, with the partition that built it.
pub struct Checkout {
    owner: usize,
    instance: Instance,
}

impl Checkout {
    /// The instance.
    pub fn instance(&mut self) -> &mut Instance {
        &mut self.instance
    }
}

struct State {
    idle: Vec<Checkout>,
    built: usize,
}

/// The instances of one stateful or isolated function in one run of a node.
pub struct InstancePool {
    function: InstanceSource,
    options: InitOptions,
    capacity: usize,
    state: Mutex<State>,
    returned: Notify,
    running_partitions: AtomicUsize,
}

impl InstancePool {
    /// A pool of at most `capacity` instances of `function` for calls with the constant
    /// arguments `options`, used by `partitions` partitions.
    pub fn new(
        function: InstanceSource,
        options: InitOptions,
        capacity: usize,
        partitions: usize,
    ) -> Self {
        Self {
            function,
            options,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                idle: Vec::new(),
                built: 0,
            }),
            returned: Notify::new(),
            running_partitions: AtomicUsize::new(partitions),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| {
            exec_datafusion_err!("{}: instance pool poisoned", self.function.meta().name())
        })
    }

    /// An instance for `partition`: its own if idle, a new one while fewer than the capacity
    /// exist, else any idle one, waiting for one if none is.
    pub async fn acquire(
        &self,
        partition: usize,
        built: &Count,
        init_time: &Time,
    ) -> Result<Checkout> {
        loop {
            let returned = self.returned.notified();
            // The lock is not held across the build (which may await) or the wait.
            let may_build = {
                let mut state = self.lock()?;
                if let Some(index) = state.idle.iter().position(|c| c.owner == partition) {
                    return Ok(state.idle.swap_remove(index));
                }
                if state.built < self.capacity {
                    state.built += 1;
                    true
                } else if let Some(checkout) = state.idle.pop() {
                    return Ok(checkout);
                } else {
                    false
                }
            };
            if may_build {
                return self.build(partition, built, init_time).await;
            }
            returned.await;
        }
    }

    async fn build(&self, partition: usize, built: &Count, init_time: &Time) -> Result<Checkout> {
        let name = self.function.meta().name();
        let sharing = executor_sharing();
        let kept = sharing
            .filter(|_| matches!(self.function, InstanceSource::Stateful(_)))
            .and_then(|sharing| sharing.instances.take(name, &self.options));
        if let Some(instance) = kept {
            return Ok(Checkout {
                owner: partition,
                instance: Instance::Inline(instance),
            });
        }
        let started = Instant::now();
        let instance = match &self.function {
            InstanceSource::Stateful(function) => {
                function.init(&self.options).map(Instance::Inline)
            }
            InstanceSource::Isolated(function, isolation) => function
                .init(&self.options, isolation)
                .await
                .map(Instance::Isolated),
        };
        // An isolated function may hand back an instance it kept from a run before.
        let reused = matches!(&instance, Ok(Instance::Isolated(isolated)) if isolated.reused());
        if !reused {
            init_time.add_duration(started.elapsed());
        }
        match instance {
            Ok(instance) if reused => Ok(Checkout {
                owner: partition,
                instance,
            }),
            Ok(instance) => {
                built.add(1);
                if sharing.is_some() {
                    eprintln!(
                        "nodefusion executor: {name}: built an instance in {:.2} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                Ok(Checkout {
                    owner: partition,
                    instance,
                })
            }
            Err(error) => {
                self.lock()?.built -= 1;
                self.returned.notify_one();
                Err(error)
            }
        }
    }

    /// Puts an instance back after a batch.
    pub fn release(&self, checkout: Checkout) {
        if let Ok(mut state) = self.state.lock() {
            state.idle.push(checkout);
        }
        self.returned.notify_one();
    }

    /// Marks one partition finished; the last one tears every instance down (on an
    /// executor, they are kept for its next tasks when the pool is dropped).
    pub async fn finish_partition(&self) -> Result<()> {
        if executor_sharing().is_some()
            || self.running_partitions.fetch_sub(1, Ordering::AcqRel) != 1
        {
            return Ok(());
        }
        let idle = std::mem::take(&mut self.lock()?.idle);
        for mut checkout in idle {
            checkout.instance.teardown().await?;
        }
        Ok(())
    }
}

impl Drop for InstancePool {
    fn drop(&mut self) {
        let Ok(state) = self.state.get_mut() else {
            return;
        };
        let idle = std::mem::take(&mut state.idle);
        let name = self.function.meta().name();
        for checkout in idle {
            match (executor_sharing(), checkout.instance) {
                // The executor's next tasks take it.
                (Some(sharing), Instance::Inline(instance)) => {
                    sharing.instances.put(name, &self.options, instance);
                }
                // A cancelled run: tear down what is left; nobody is left to report errors
                // to.
                (None, Instance::Inline(mut instance)) => {
                    let _ = instance.teardown();
                }
                // Dropped, it releases its thread or process.
                (_, Instance::Isolated(instance)) => drop(instance),
            }
        }
    }
}
