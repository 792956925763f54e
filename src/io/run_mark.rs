//! [`run_mark`]: what makes the names of one run's output files its own, so that files an
//! appending run adds never take the names of files already there.

use std::time::{SystemTime, UNIX_EPOCH};

/// Twelve digits of the time now, in nanoseconds.
pub fn run_mark() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() % 1_000_000_000_000);
    format!("{now:012}")
}
