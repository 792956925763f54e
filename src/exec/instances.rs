//! [`InstancePool`]: the instances of a stateful function for one run of a node. Each
//! partition builds its own instance on its first batch while fewer than `capacity` exist
//! and keeps using it; beyond that, partitions take turns with the instances there are,
//! one batch at a time (never holding one while they wait, so that the ordered gather
//! above them cannot deadlock). The last partition to finish tears them all down; on a
//! cluster's executor they are kept for its next tasks instead ([`super::executor_sharing`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use datafusion::common::{Result, exec_datafusion_err};
use datafusion::physical_plan::metrics::{Count, Time};
use nodefusion_function::{FunctionInstance, InitOptions, StatefulFunction};
use tokio::sync::Notify;

use super::executor_sharing::executor_sharing;

/// An instance checked out of the pool, with the partition that built it.
pub struct Checkout {
    owner: usize,
    instance: Box<dyn FunctionInstance>,
}

impl Checkout {
    /// The instance.
    pub fn instance(&mut self) -> &mut dyn FunctionInstance {
        self.instance.as_mut()
    }
}

struct State {
    idle: Vec<Checkout>,
    built: usize,
}

/// The instances of one stateful function in one run of a node.
pub struct InstancePool {
    function: std::sync::Arc<dyn StatefulFunction>,
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
        function: std::sync::Arc<dyn StatefulFunction>,
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
        self.state
            .lock()
            .map_err(|_| exec_datafusion_err!("{}: instance pool poisoned", self.function.name()))
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
            {
                let mut state = self.lock()?;
                if let Some(index) = state.idle.iter().position(|c| c.owner == partition) {
                    return Ok(state.idle.swap_remove(index));
                }
                if state.built < self.capacity {
                    state.built += 1;
                    drop(state);
                    return self.build(partition, built, init_time);
                }
                if let Some(checkout) = state.idle.pop() {
                    return Ok(checkout);
                }
            }
            returned.await;
        }
    }

    fn build(&self, partition: usize, built: &Count, init_time: &Time) -> Result<Checkout> {
        let sharing = executor_sharing();
        let kept =
            sharing.and_then(|sharing| sharing.instances.take(self.function.name(), &self.options));
        if let Some(instance) = kept {
            return Ok(Checkout {
                owner: partition,
                instance,
            });
        }
        let started = Instant::now();
        let instance = self.function.init(&self.options);
        init_time.add_duration(started.elapsed());
        match instance {
            Ok(instance) => {
                built.add(1);
                if sharing.is_some() {
                    eprintln!(
                        "nodefusion executor: {}: built an instance in {:.2} s",
                        self.function.name(),
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
    pub fn finish_partition(&self) -> Result<()> {
        if executor_sharing().is_some()
            || self.running_partitions.fetch_sub(1, Ordering::AcqRel) != 1
        {
            return Ok(());
        }
        let idle = std::mem::take(&mut self.lock()?.idle);
        for mut checkout in idle {
            checkout.instance.teardown()?;
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
        match executor_sharing() {
            // The executor's next tasks take them.
            Some(sharing) => {
                for checkout in idle {
                    let name = self.function.name();
                    sharing
                        .instances
                        .put(name, &self.options, checkout.instance);
                }
            }
            // A cancelled run: tear down what is left; nobody is left to report errors to.
            None => {
                for mut checkout in idle {
                    let _ = checkout.instance.teardown();
                }
            }
        }
    }
}
