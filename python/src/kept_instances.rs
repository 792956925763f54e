//! [`KeptInstances`]: the instances of a Python node's function kept between its runs, for
//! as long as the function lives (its `nodefusion.Pipeline` or `Session`): a stateful
//! object is built once, a worker's runner unpickled once, a thread taken once. A run
//! takes back an idle instance built with the same settings; the instances are closed when
//! the function is dropped, or at the interpreter's exit ([`close_all_kept`]).

use std::sync::{Arc, Mutex, Weak};

use nodefusion_function::{IsolatedInstance, IsolationOptions};
use tokio::sync::oneshot;

use crate::process_instance::ProcessInstance;
use crate::thread_instance::ThreadInstance;

/// An instance kept for a later run.
pub enum KeptInstance {
    /// On a thread.
    Thread(ThreadInstance),
    /// In a worker process.
    Process(Box<ProcessInstance>),
}

impl KeptInstance {
    /// Closes the instance: its runner closed (the receiver hears when), its thread or
    /// worker back in its pool.
    pub fn close(self) -> oneshot::Receiver<()> {
        match self {
            Self::Thread(instance) => instance.close(),
            Self::Process(instance) => instance.close(),
        }
    }

    fn into_instance(self) -> Box<dyn IsolatedInstance> {
        match self {
            Self::Thread(instance) => Box::new(instance),
            Self::Process(instance) => instance,
        }
    }
}

/// The idle instances of one Python node's function, by the settings they were built with.
#[derive(Default)]
pub struct KeptInstances {
    idle: Mutex<Vec<(IsolationOptions, KeptInstance)>>,
}

/// Every function's kept instances, for [`close_all_kept`].
static ALL: Mutex<Vec<Weak<KeptInstances>>> = Mutex::new(Vec::new());

/// Closes every kept instance (the interpreter is exiting); the receivers hear when each
/// runner is closed.
pub fn close_all_kept() -> Vec<oneshot::Receiver<()>> {
    let all: Vec<Arc<KeptInstances>> = ALL
        .lock()
        .map(|all| all.iter().filter_map(Weak::upgrade).collect())
        .unwrap_or_default();
    all.iter().flat_map(|kept| kept.close()).collect()
}

/// Waits until the runners `closed` names are closed (detached from the interpreter,
/// which their threads need).
pub fn wait_closed(closed: Vec<oneshot::Receiver<()>>) {
    for receiver in closed {
        let _ = receiver.blocking_recv();
    }
}

impl KeptInstances {
    /// A function's kept instances, none yet.
    pub fn new() -> Arc<Self> {
        let kept = Arc::new(Self::default());
        if let Ok(mut all) = ALL.lock() {
            all.retain(|weak| weak.strong_count() > 0);
            all.push(Arc::downgrade(&kept));
        }
        kept
    }

    /// An idle instance built with `isolation`, if one is kept.
    pub fn take(&self, isolation: &IsolationOptions) -> Option<Box<dyn IsolatedInstance>> {
        let mut idle = self.idle.lock().ok()?;
        let position = idle.iter().position(|(options, _)| options == isolation)?;
        Some(idle.swap_remove(position).1.into_instance())
    }

    /// Keeps `instance`, built with `isolation`, for a later run.
    pub fn keep(&self, isolation: IsolationOptions, instance: KeptInstance) {
        match self.idle.lock() {
            Ok(mut idle) => idle.push((isolation, instance)),
            Err(_) => drop(instance.close()),
        }
    }

    /// Closes the idle instances; the receivers hear when each runner is closed.
    pub fn close(&self) -> Vec<oneshot::Receiver<()>> {
        let idle = self
            .idle
            .lock()
            .map(|mut idle| std::mem::take(&mut *idle))
            .unwrap_or_default();
        idle.into_iter()
            .map(|(_, instance)| instance.close())
            .collect()
    }
}

impl Drop for KeptInstances {
    /// Closes the idle instances without waiting (the interpreter may be held).
    fn drop(&mut self) {
        drop(self.close());
    }
}

/// Where an instance goes when its run is done: back to its function's kept instances,
/// or, the function gone, closed.
pub fn release(kept: &Weak<KeptInstances>, isolation: IsolationOptions, instance: KeptInstance) {
    match kept.upgrade() {
        Some(kept) => kept.keep(isolation, instance),
        None => drop(instance.close()),
    }
}
