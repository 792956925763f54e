//! [`PipelineDefaults`]: a pipeline's `[defaults]`, its node settings for every node that
//! does not set its own, and how many partitions run them.

use super::NodeSettings;

/// A pipeline's defaults for its nodes and for the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineDefaults {
    /// How many partitions run the nodes in parallel (top-level pipeline only).
    pub partitions: Option<usize>,
    /// Settings for every node that does not set its own.
    pub nodes: NodeSettings,
}

impl PipelineDefaults {
    /// The number of partitions in force: the pipeline's, else one per available core.
    pub fn effective_partitions(&self) -> usize {
        self.partitions.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}
