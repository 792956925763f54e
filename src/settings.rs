//! Node settings and their layers: a node's own setting wins over the defaults of the
//! pipeline it is in (innermost first), which win over the built-in defaults.

use serde::Deserialize;

/// The built-in rows per batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// Settings a node may set for itself; unset ones are inherited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// Rows per batch the node's function is called with.
    pub batch_size: Option<usize>,
}

/// A pipeline's defaults for its nodes and for the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineDefaults {
    /// Rows per batch for nodes that do not set their own.
    pub batch_size: Option<usize>,
    /// How many partitions run the nodes in parallel (top-level pipeline only).
    pub partitions: Option<usize>,
}

impl NodeSettings {
    /// These settings with every unset one taken from `defaults`.
    pub fn or_defaults(&self, defaults: &PipelineDefaults) -> NodeSettings {
        NodeSettings {
            batch_size: self.batch_size.or(defaults.batch_size),
        }
    }

    /// The batch size in force: this node's, else the built-in default.
    pub fn effective_batch_size(&self) -> usize {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }
}

impl PipelineDefaults {
    /// The number of partitions in force: the pipeline's, else one per available core.
    pub fn effective_partitions(&self) -> usize {
        self.partitions.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_setting_overrides_the_pipeline_default_which_overrides_the_builtin() {
        let defaults = PipelineDefaults {
            batch_size: Some(64),
            partitions: None,
        };
        let own = NodeSettings {
            batch_size: Some(16),
        };
        assert_eq!(own.or_defaults(&defaults).effective_batch_size(), 16);
        let inherited = NodeSettings::default().or_defaults(&defaults);
        assert_eq!(inherited.effective_batch_size(), 64);
        let builtin = NodeSettings::default().or_defaults(&PipelineDefaults::default());
        assert_eq!(builtin.effective_batch_size(), DEFAULT_BATCH_SIZE);
    }
}
