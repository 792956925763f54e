//! [`cleanup_now`]: async cleanup from a `Drop`, done before the process goes on where the
//! runtime can wait for it (a runtime of several threads: the command's), else in the
//! background (a runtime of one thread cannot block; the work may then be cut short by the
//! process's end, and the next run finds what is left).

use std::future::Future;

/// Runs `cleanup` to its end now where the current runtime allows it, else spawns it;
/// does nothing outside a runtime.
pub fn cleanup_now(cleanup: impl Future<Output = ()> + Send + 'static) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    match runtime.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| runtime.block_on(cleanup));
        }
        _ => {
            runtime.spawn(cleanup);
        }
    }
}
