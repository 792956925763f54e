//! Node settings and their layers. Highest first:
//!
//! 1. the node's own settings (pipeline file or code);
//! 2. the defaults of the pipelines it is in, innermost first (`[defaults]`, `--set`);
//! 3. the session's options: `SET nodefusion.embed.batch_size = 32` for one function, then
//!    `SET nodefusion.batch_size = 256` for all ([`SessionOptions`]);
//! 4. the function's own preference (an embedding model's batch size);
//! 5. the built-in defaults.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, config_err};
use serde::Deserialize;

/// The built-in rows per batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;
/// The built-in number of async calls in flight per node.
pub const DEFAULT_ASYNC_CONCURRENCY: usize = 16;
/// The built-in time an async call may take.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The built-in number of retries of a failed async call.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// What a node does with a row its function fails on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Fail the run, naming the node, the function and the row.
    #[default]
    Fail,
    /// Give the row a null and count it in `failed_rows`.
    Null,
}

impl OnError {
    fn parse(value: &str) -> Option<Self> {
        match value
            .trim()
            .trim_matches(['\'', '"'])
            .to_ascii_lowercase()
            .as_str()
        {
            "fail" => Some(Self::Fail),
            "null" => Some(Self::Null),
            _ => None,
        }
    }
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fail => "fail",
            Self::Null => "null",
        })
    }
}

/// Settings a node may set for itself; unset ones are inherited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// Rows per batch the node's function is called with.
    pub batch_size: Option<usize>,
    /// Stateful functions: the most instances alive at once; async functions: the most
    /// calls in flight.
    pub max_concurrency: Option<usize>,
    /// What to do with a row the function fails on.
    pub on_error: Option<OnError>,
    /// Async functions: the most time one call may take, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Async functions: how often a failed call is tried again.
    pub max_retries: Option<u32>,
    /// Stateful functions: the threads each instance computes with.
    pub threads: Option<usize>,
}

impl NodeSettings {
    /// These settings with every unset one taken from `lower`.
    pub fn or(&self, lower: &NodeSettings) -> NodeSettings {
        NodeSettings {
            batch_size: self.batch_size.or(lower.batch_size),
            max_concurrency: self.max_concurrency.or(lower.max_concurrency),
            on_error: self.on_error.or(lower.on_error),
            timeout_ms: self.timeout_ms.or(lower.timeout_ms),
            max_retries: self.max_retries.or(lower.max_retries),
            threads: self.threads.or(lower.threads),
        }
    }

    /// These settings with every unset one taken from the pipeline's `defaults`.
    pub fn or_defaults(&self, defaults: &PipelineDefaults) -> NodeSettings {
        self.or(&defaults.nodes)
    }

    /// The batch size in force: this setting, else the built-in default.
    pub fn effective_batch_size(&self) -> usize {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }

    /// The error of the first setting out of range, as (name, message).
    pub fn check(&self) -> Option<(&'static str, &'static str)> {
        if self.batch_size == Some(0) {
            return Some(("batch_size", "must be at least 1"));
        }
        if self.max_concurrency == Some(0) {
            return Some(("max_concurrency", "must be at least 1"));
        }
        if self.timeout_ms == Some(0) {
            return Some(("timeout_ms", "must be at least 1"));
        }
        if self.threads == Some(0) {
            return Some(("threads", "must be at least 1"));
        }
        None
    }

    /// Sets `key` from its text form, as `SET` and `--set` give it.
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let number = || {
            value.trim().parse::<u64>().map_err(|_| {
                datafusion::common::DataFusionError::Configuration(format!(
                    "nodefusion: {key} must be a whole number, got '{value}'"
                ))
            })
        };
        match key {
            "batch_size" => self.batch_size = Some(number()? as usize),
            "max_concurrency" => self.max_concurrency = Some(number()? as usize),
            "timeout_ms" => self.timeout_ms = Some(number()?),
            "max_retries" => self.max_retries = Some(number()? as u32),
            "threads" => self.threads = Some(number()? as usize),
            "on_error" => {
                self.on_error = Some(OnError::parse(value).ok_or_else(|| {
                    datafusion::common::DataFusionError::Configuration(format!(
                        "nodefusion: on_error must be 'fail' or 'null', got '{value}'"
                    ))
                })?)
            }
            _ => {
                return config_err!(
                    "nodefusion: unknown option '{key}'; the options are batch_size, \
                     max_concurrency, on_error, timeout_ms, max_retries, threads"
                );
            }
        }
        if let Some((name, message)) = self.check() {
            return config_err!("nodefusion: {name} {message}");
        }
        Ok(())
    }

    fn entries(&self, prefix: &str) -> Vec<ConfigEntry> {
        let entry = |key: &str, value: Option<String>, description: &'static str| ConfigEntry {
            key: format!("{prefix}{key}"),
            value,
            description,
        };
        vec![
            entry(
                "batch_size",
                self.batch_size.map(|v| v.to_string()),
                "Rows per batch a node's function is called with",
            ),
            entry(
                "max_concurrency",
                self.max_concurrency.map(|v| v.to_string()),
                "Instances alive (stateful) or calls in flight (async) per node",
            ),
            entry(
                "on_error",
                self.on_error.map(|v| v.to_string()),
                "fail, or null to give failing rows a null",
            ),
            entry(
                "timeout_ms",
                self.timeout_ms.map(|v| v.to_string()),
                "The most time one async call may take",
            ),
            entry(
                "max_retries",
                self.max_retries.map(|v| v.to_string()),
                "How often a failed async call is tried again",
            ),
            entry(
                "threads",
                self.threads.map(|v| v.to_string()),
                "Threads each instance of a stateful function computes with",
            ),
        ]
    }
}

/// A pipeline's defaults for its nodes and for the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "DefaultsSection")]
pub struct PipelineDefaults {
    /// How many partitions run the nodes in parallel (top-level pipeline only).
    pub partitions: Option<usize>,
    /// Settings for every node that does not set its own.
    pub nodes: NodeSettings,
}

/// `[defaults]` as written in a pipeline file: the node settings and `partitions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsSection {
    partitions: Option<usize>,
    batch_size: Option<usize>,
    max_concurrency: Option<usize>,
    on_error: Option<OnError>,
    timeout_ms: Option<u64>,
    max_retries: Option<u32>,
    threads: Option<usize>,
}

impl From<DefaultsSection> for PipelineDefaults {
    fn from(section: DefaultsSection) -> Self {
        PipelineDefaults {
            partitions: section.partitions,
            nodes: NodeSettings {
                batch_size: section.batch_size,
                max_concurrency: section.max_concurrency,
                on_error: section.on_error,
                timeout_ms: section.timeout_ms,
                max_retries: section.max_retries,
                threads: section.threads,
            },
        }
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

/// The session's options, `SET nodefusion.<option> = ...` for every node and
/// `SET nodefusion.<function>.<option> = ...` for the calls of one function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionOptions {
    /// Options for every function.
    pub all: NodeSettings,
    /// Options for one function, by name.
    pub functions: BTreeMap<String, NodeSettings>,
}

impl SessionOptions {
    /// The session's settings for `function`: its own options over the general ones.
    pub fn for_function(&self, function: &str) -> NodeSettings {
        self.functions
            .get(function)
            .map_or_else(|| self.all.clone(), |own| own.or(&self.all))
    }
}

impl ConfigExtension for SessionOptions {
    const PREFIX: &'static str = "nodefusion";
}

impl ExtensionOptions for SessionOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key.rsplit_once('.') {
            None => self.all.set(key, value),
            Some((function, option)) => self
                .functions
                .entry(function.to_string())
                .or_default()
                .set(option, value),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let mut entries = self.all.entries("");
        for (function, settings) in &self.functions {
            entries.extend(settings.entries(&format!("{function}.")));
        }
        entries
    }
}

/// The settings a node runs with, every layer applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub struct RunSettings {
    /// Rows per call (stateful and batch functions) or per group of calls (row functions).
    pub batch_size: usize,
    /// Instances alive (stateful) or calls in flight (async); `None`: one per partition.
    pub max_concurrency: Option<usize>,
    /// What to do with failing rows.
    pub on_error: OnError,
    /// The most time one async call may take.
    pub timeout: Duration,
    /// How often a failed async call is tried again.
    pub max_retries: u32,
    /// Threads per instance of a stateful function; `None`: the cores shared out among the
    /// instances.
    pub threads: Option<usize>,
}

impl RunSettings {
    /// The settings of a node: `layers` (node, pipeline, session), then the function's
    /// preferred batch size, then the built-ins. `is_async` picks the built-in concurrency.
    pub fn resolve(
        layers: &NodeSettings,
        function_batch_size: Option<usize>,
        is_async: bool,
    ) -> Self {
        RunSettings {
            batch_size: layers
                .batch_size
                .or(function_batch_size)
                .unwrap_or(DEFAULT_BATCH_SIZE),
            max_concurrency: layers
                .max_concurrency
                .or(is_async.then_some(DEFAULT_ASYNC_CONCURRENCY)),
            on_error: layers.on_error.unwrap_or_default(),
            timeout: Duration::from_millis(layers.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
            max_retries: layers.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            threads: layers.threads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_setting_overrides_the_pipeline_default_which_overrides_the_builtin() {
        let defaults = PipelineDefaults {
            partitions: None,
            nodes: NodeSettings {
                batch_size: Some(64),
                ..NodeSettings::default()
            },
        };
        let own = NodeSettings {
            batch_size: Some(16),
            ..NodeSettings::default()
        };
        assert_eq!(own.or_defaults(&defaults).effective_batch_size(), 16);
        let inherited = NodeSettings::default().or_defaults(&defaults);
        assert_eq!(inherited.effective_batch_size(), 64);
        let builtin = NodeSettings::default().or_defaults(&PipelineDefaults::default());
        assert_eq!(builtin.effective_batch_size(), DEFAULT_BATCH_SIZE);
    }

    #[test]
    fn session_options_for_one_function_override_those_for_all() {
        let mut options = SessionOptions::default();
        options.set("batch_size", "256").unwrap();
        options.set("max_concurrency", "2").unwrap();
        options.set("embed.batch_size", "32").unwrap();
        options.set("embed.threads", "2").unwrap();
        let embed = options.for_function("embed");
        assert_eq!(
            (embed.batch_size, embed.max_concurrency, embed.threads),
            (Some(32), Some(2), Some(2))
        );
        assert_eq!(RunSettings::resolve(&embed, None, false).threads, Some(2));
        let error = options.set("threads", "0").unwrap_err().to_string();
        assert!(error.contains("threads must be at least 1"), "{error}");
        assert_eq!(options.for_function("other").batch_size, Some(256));
        let error = options.set("batch_size", "0").unwrap_err().to_string();
        assert!(error.contains("batch_size must be at least 1"), "{error}");
        let error = options.set("on_error", "ignore").unwrap_err().to_string();
        assert!(
            error.contains("on_error must be 'fail' or 'null'"),
            "{error}"
        );
    }

    #[test]
    fn run_settings_take_the_function_preference_below_the_layers() {
        let settings = RunSettings::resolve(&NodeSettings::default(), Some(32), false);
        assert_eq!((settings.batch_size, settings.max_concurrency), (32, None));
        let layered = NodeSettings {
            batch_size: Some(8),
            ..NodeSettings::default()
        };
        let settings = RunSettings::resolve(&layered, Some(32), true);
        assert_eq!(settings.batch_size, 8);
        assert_eq!(settings.max_concurrency, Some(DEFAULT_ASYNC_CONCURRENCY));
    }
}
