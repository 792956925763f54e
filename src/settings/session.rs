//! [`SessionOptions`]: the node settings of a DataFusion session, `SET nodefusion.<setting>
//! = ...` for every node and `SET nodefusion.<function>.<setting> = ...` for the calls of
//! one function.

use std::any::Any;
use std::collections::BTreeMap;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{DataFusionError, Result};

use super::NodeSettings;

/// The session's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionOptions {
    /// Options for every function.
    pub all: NodeSettings,
    /// Options for one function, by name.
    pub functions: BTreeMap<String, NodeSettings>,
}

impl SessionOptions {
    /// The session's settings for `function`: its own options over the general ones; the
    /// general ones alone without a function.
    pub fn for_function(&self, function: Option<&str>) -> NodeSettings {
        function
            .and_then(|name| self.functions.get(name))
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
        let settings = match key.rsplit_once('.') {
            None => &mut self.all,
            Some((function, _)) => self.functions.entry(function.to_string()).or_default(),
        };
        let setting = key.rsplit_once('.').map_or(key, |(_, setting)| setting);
        settings
            .set_text(setting, value)
            .map_err(|error| DataFusionError::Configuration(format!("nodefusion: {error}")))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let mut entries = self.all.entries("");
        for (function, settings) in &self.functions {
            entries.extend(settings.entries(&format!("{function}.")));
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_for_one_function_override_those_for_all() {
        let mut options = SessionOptions::default();
        options.set("batch_size", "256").unwrap();
        options.set("max_concurrency", "2").unwrap();
        options.set("embed.batch_size", "32").unwrap();
        options.set("embed.threads", "2").unwrap();
        let embed = options.for_function(Some("embed"));
        assert_eq!(
            (embed.batch_size, embed.max_concurrency, embed.threads),
            (Some(32), Some(2), Some(2))
        );
        assert_eq!(options.for_function(Some("other")).batch_size, Some(256));
        assert_eq!(options.for_function(None).threads, None);
        for (key, value, expected) in [
            ("threads", "0", "threads must be at least 1"),
            (
                "batch_size",
                "0",
                "batch_size must be between 1 and 16777216 rows, got 0",
            ),
            ("on_error", "ignore", "on_error must be 'fail' or 'null'"),
        ] {
            let error = options.set(key, value).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
