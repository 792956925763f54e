//! [`NodeSettings`] (one layer: what a node, a pipeline's defaults or the session sets),
//! [`RunSettings`] (what a node runs with, every layer applied) and [`SETTINGS`] (their
//! documentation), all generated from the declaration in [`super::declaration`].

use std::fmt;

use datafusion::common::config::ConfigEntry;
use serde::{Deserialize, Deserializer};

use super::declaration::with_node_settings;
use super::value::{SettingValue, any, at_least_one, rows_per_batch};
use crate::error::did_you_mean;

/// A setting that is unknown or has a bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The setting's key as given.
    pub key: String,
    /// What is wrong, with the valid keys or values.
    pub message: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.message)
    }
}

impl std::error::Error for SettingError {}

/// One node setting as the documentation shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingDoc {
    /// The key (`batch_size`).
    pub name: &'static str,
    /// The values it takes.
    pub value: &'static str,
    /// Its value when no layer sets it.
    pub default: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// How a layer's value meets the built-in value: a resolved `T` takes the built-in when
/// unset; a resolved `Option<T>` stays unset, for the behaviour to decide.
pub trait Resolve<T> {
    /// `layer` if set, else `builtin`.
    fn resolve(layer: Option<T>, builtin: Self) -> Self;

    /// The resolved value as a layer that resolves to it again.
    fn into_layer(self) -> Option<T>;
}

impl<T> Resolve<T> for T {
    fn resolve(layer: Option<T>, builtin: T) -> T {
        layer.unwrap_or(builtin)
    }

    fn into_layer(self) -> Option<T> {
        Some(self)
    }
}

impl<T> Resolve<T> for Option<T> {
    fn resolve(layer: Option<T>, builtin: Option<T>) -> Option<T> {
        layer.or(builtin)
    }

    fn into_layer(self) -> Option<T> {
        self
    }
}

/// The error of an unknown setting `key`, with the nearest valid one.
fn unknown_setting(key: &str) -> SettingError {
    let names = SETTINGS.iter().map(|setting| setting.name);
    let hint = did_you_mean(key, names.clone());
    SettingError {
        key: key.to_string(),
        message: format!(
            "is not a node setting{hint}; the settings are {}",
            names.collect::<Vec<_>>().join(", ")
        ),
    }
}

macro_rules! define_node_settings {
    ([] $($name:ident : $value:ty => $resolved:ty = $builtin:expr, $check:ident,
        $default:literal, $doc:literal;)*) => {
        /// Settings a node may set for itself; unset ones are inherited from the layers
        /// below (see [`super::resolve`]).
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd)]
        pub struct NodeSettings {
            $(#[doc = $doc] pub $name: Option<$value>,)*
        }

        /// The settings a node runs with, every layer applied.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
        pub struct RunSettings {
            $(#[doc = $doc] pub $name: $resolved,)*
        }

        /// Every node setting, in the order of the declaration.
        pub const SETTINGS: &[SettingDoc] = &[$(SettingDoc {
            name: stringify!($name),
            value: <$value as SettingValue>::KIND,
            default: $default,
            description: $doc,
        },)*];

        impl NodeSettings {
            /// These settings with every unset one taken from `lower`.
            pub fn or(&self, lower: &NodeSettings) -> NodeSettings {
                NodeSettings {
                    $($name: self.$name.clone().or_else(|| lower.$name.clone()),)*
                }
            }

            /// The first setting whose value fails its check.
            pub fn check(&self) -> Result<(), SettingError> {
                $(if let Some(value) = &self.$name {
                    $check(value).map_err(|message| SettingError {
                        key: stringify!($name).to_string(),
                        message,
                    })?;
                })*
                Ok(())
            }

            /// Sets `key` from its text form, as `SET` and `--set` give it.
            pub fn set_text(&mut self, key: &str, text: &str) -> Result<(), SettingError> {
                match key {
                    $(stringify!($name) => {
                        self.$name = Some(<$value as SettingValue>::parse(text).map_err(
                            |message| SettingError { key: key.to_string(), message },
                        )?);
                    })*
                    _ => return Err(unknown_setting(key)),
                }
                self.check()
            }

            /// Sets `key` from a value of a structured format (a pipeline file).
            pub fn set_value<'de, D: Deserializer<'de>>(
                &mut self,
                key: &str,
                value: D,
            ) -> Result<(), SettingError> {
                match key {
                    $(stringify!($name) => {
                        self.$name = Some(<$value>::deserialize(value).map_err(|error| {
                            SettingError {
                                key: key.to_string(),
                                message: format!(
                                    "must be {}: {}",
                                    <$value as SettingValue>::KIND,
                                    error.to_string().trim_end()
                                ),
                            }
                        })?);
                    })*
                    _ => return Err(unknown_setting(key)),
                }
                self.check()
            }

            /// The settings as DataFusion configuration entries, keys after `prefix`.
            pub fn entries(&self, prefix: &str) -> Vec<ConfigEntry> {
                vec![$(ConfigEntry {
                    key: format!("{prefix}{}", stringify!($name)),
                    value: self.$name.as_ref().map(ToString::to_string),
                    description: $doc,
                },)*]
            }

            /// The settings with the built-in value for every unset one.
            /// [`RunSettings::as_layer`] is its inverse.
            pub fn with_builtins(&self) -> RunSettings {
                RunSettings {
                    $($name: <$resolved as Resolve<$value>>::resolve(
                        self.$name.clone(),
                        $builtin,
                    ),)*
                }
            }
        }
    };
}

with_node_settings!(define_node_settings!);

macro_rules! define_run_settings_layer {
    ([] $($name:ident : $value:ty => $resolved:ty = $builtin:expr, $check:ident,
        $default:literal, $doc:literal;)*) => {
        impl RunSettings {
            /// These settings as one layer: [`NodeSettings::with_builtins`] of it gives
            /// them back (how they travel to a cluster's executors, as text entries).
            pub fn as_layer(&self) -> NodeSettings {
                NodeSettings {
                    $($name: <$resolved as Resolve<$value>>::into_layer(self.$name),)*
                }
            }
        }
    };
}

with_node_settings!(define_run_settings_layer!);

impl NodeSettings {
    /// One layer of `layers`, highest first: each setting from the first layer that sets it.
    pub fn layered(layers: &[&NodeSettings]) -> NodeSettings {
        layers
            .iter()
            .fold(NodeSettings::default(), |settings, layer| {
                settings.or(layer)
            })
    }
}

/// The settings table of the documentation, in Markdown.
pub fn settings_table() -> String {
    let mut table =
        String::from("| setting | value | default | what it does |\n| --- | --- | --- | --- |\n");
    for setting in SETTINGS {
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            setting.name, setting.value, setting.default, setting.description
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::BatchSize;

    #[test]
    fn a_setting_is_read_from_text_and_checked() {
        let mut settings = NodeSettings::default();
        settings.set_text("batch_size", " 64 ").unwrap();
        settings.set_text("on_error", "'null'").unwrap();
        assert_eq!(settings.batch_size, Some(BatchSize::Rows(64)));
        assert_eq!(settings.on_error, Some(super::super::OnError::Null));
        let error = settings.set_text("batch_size", "0").unwrap_err();
        assert_eq!(
            error.to_string(),
            "batch_size must be between 1 and 16777216 rows or 'auto', got 0"
        );
        let error = settings.set_text("timeout_ms", "soon").unwrap_err();
        assert_eq!(
            error.to_string(),
            "timeout_ms must be a whole number, got 'soon'"
        );
    }

    #[test]
    fn an_unknown_setting_names_the_nearest_and_lists_them_all() {
        let error = NodeSettings::default()
            .set_text("batch_sise", "1")
            .unwrap_err();
        assert!(
            error
                .message
                .starts_with("is not a node setting (did you mean 'batch_size'?); the settings are batch_size, max_concurrency"),
            "{error}"
        );
    }

    #[test]
    fn the_readme_shows_the_settings_table_of_the_declaration() {
        let readme = include_str!("../../README.md");
        let table = settings_table();
        assert!(
            readme.contains(&table),
            "README.md's settings table differs from the declaration; put this there:\n{table}"
        );
    }

    #[test]
    fn unset_settings_take_the_builtins_or_stay_unset() {
        let run = NodeSettings {
            max_retries: Some(0),
            ..NodeSettings::default()
        }
        .with_builtins();
        assert_eq!(
            run.batch_size,
            BatchSize::Rows(super::super::DEFAULT_BATCH_SIZE)
        );
        assert_eq!((run.max_retries, run.max_concurrency), (0, None));
    }
}
