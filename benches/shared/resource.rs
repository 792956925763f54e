//! The stateful workload's resource (SEEDS.md section 2), shared by `node_kinds` and the
//! comparison harness's runner: it takes [`SETUP`] to set up and is cheap to use.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::ArrayRef;
use nodefusion_function::FunctionInstance;

/// How long setting the resource up takes.
pub const SETUP: Duration = Duration::from_millis(500);

/// Expensive to set up, cheap to use: it passes its argument through.
pub struct Resource;

impl Resource {
    pub fn set_up() -> Self {
        std::thread::sleep(SETUP);
        Resource
    }

    pub fn apply(&self, args: &[ArrayRef]) -> datafusion::common::Result<ArrayRef> {
        Ok(Arc::clone(&args[0]))
    }
}

impl FunctionInstance for Resource {
    fn process(&mut self, args: &[ArrayRef]) -> datafusion::common::Result<ArrayRef> {
        self.apply(args)
    }
}
