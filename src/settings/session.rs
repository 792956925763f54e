//! [`SessionOptions`]: the node settings of a DataFusion session, `SET nodefusion.<setting>
//! = ...` for every node and `SET nodefusion.<function>.<setting> = ...` for the calls of
//! one function, and the remote model services, `SET nodefusion.provider.<name>.<key> =
//! ...` ([`Providers`]).

use std::any::Any;
use std::collections::BTreeMap;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{DataFusionError, Result};

use nodefusion_function::calls::{PROVIDER_KEYS, Providers};

use super::NodeSettings;
use crate::error::did_you_mean;

/// The session's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionOptions {
    /// Options for every function.
    pub all: NodeSettings,
    /// Options for one function, by name.
    pub functions: BTreeMap<String, NodeSettings>,
    /// The remote model services.
    pub providers: Providers,
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
        if let Some(provider_key) = key.strip_prefix("provider.") {
            return set_provider(&mut self.providers, provider_key, value);
        }
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
        let mut entries = self.all.entries("nodefusion.");
        for (function, settings) in &self.functions {
            entries.extend(settings.entries(&format!("nodefusion.{function}.")));
        }
        for (name, provider) in self.providers.iter() {
            for (key, value) in provider.entries() {
                entries.push(ConfigEntry {
                    key: format!("nodefusion.provider.{name}.{key}"),
                    value: Some(value),
                    description: "a remote model service",
                });
            }
        }
        entries
    }
}

/// `SET nodefusion.provider.<name>.<key> = <value>`.
fn set_provider(providers: &mut Providers, name_and_key: &str, value: &str) -> Result<()> {
    let configuration =
        |message: String| DataFusionError::Configuration(format!("nodefusion: {message}"));
    let Some((name, key)) = name_and_key.rsplit_once('.') else {
        return Err(configuration(format!(
            "'provider.{name_and_key}': write nodefusion.provider.<name>.<key>"
        )));
    };
    if !PROVIDER_KEYS.iter().any(|(known, _)| *known == key) {
        let hint = did_you_mean(key, PROVIDER_KEYS.iter().map(|(known, _)| *known));
        let keys: Vec<&str> = PROVIDER_KEYS.iter().map(|(known, _)| *known).collect();
        return Err(configuration(format!(
            "unknown provider key '{key}'{hint}; the keys are {}",
            keys.join(", ")
        )));
    }
    providers
        .set(name, key, value)
        .map_err(|message| configuration(format!("provider '{name}': {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::BatchSize;

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
            (Some(BatchSize::Rows(32)), Some(2), Some(2))
        );
        assert_eq!(
            options.for_function(Some("other")).batch_size,
            Some(BatchSize::Rows(256))
        );
        assert_eq!(options.for_function(None).threads, None);
        for (key, value, expected) in [
            ("threads", "0", "threads must be at least 1"),
            (
                "batch_size",
                "0",
                "batch_size must be between 1 and 16777216 rows or 'auto', got 0",
            ),
            ("on_error", "ignore", "on_error must be 'fail' or 'null'"),
        ] {
            let error = options.set(key, value).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
