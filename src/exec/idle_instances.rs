//! [`IdleInstances`]: instances of stateful functions kept between the tasks of a cluster's
//! executor, by function and constant arguments, so that a model is built once per executor
//! process rather than once per task. An instance idle for longer than the keep time is torn
//! down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nodefusion_function::{FunctionInstance, InitOptions};

/// An instance put back, and since when.
struct Idle {
    instance: Box<dyn FunctionInstance>,
    since: Instant,
}

/// The idle instances of one process.
pub struct IdleInstances {
    keep: Duration,
    idle: Mutex<HashMap<(String, InitOptions), Vec<Idle>>>,
}

impl IdleInstances {
    /// Instances kept for `keep` after their last use.
    pub fn new(keep: Duration) -> Self {
        Self {
            keep,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// An idle instance of `function` built with `options`, if one is kept.
    pub fn take(&self, function: &str, options: &InitOptions) -> Option<Box<dyn FunctionInstance>> {
        let mut idle = self.idle.lock().ok()?;
        let kept = idle.get_mut(&(function.to_string(), options.clone()))?;
        kept.pop().map(|idle| idle.instance)
    }

    /// Keeps `instance` of `function`, built with `options`, for the next task.
    pub fn put(&self, function: &str, options: &InitOptions, instance: Box<dyn FunctionInstance>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.entry((function.to_string(), options.clone()))
                .or_default()
                .push(Idle {
                    instance,
                    since: Instant::now(),
                });
        }
    }

    /// Tears down the instances idle for longer than the keep time.
    pub fn evict_expired(&self) {
        let expired: Vec<Idle> = match self.idle.lock() {
            Ok(mut idle) => {
                let mut expired = Vec::new();
                for kept in idle.values_mut() {
                    let (old, recent) = std::mem::take(kept)
                        .into_iter()
                        .partition(|idle| idle.since.elapsed() > self.keep);
                    *kept = recent;
                    expired.extend(old);
                }
                idle.retain(|_, kept| !kept.is_empty());
                expired
            }
            Err(_) => return,
        };
        for mut idle in expired {
            // Nobody to report to: the task that used it is long done.
            let _ = idle.instance.teardown();
        }
    }
}
