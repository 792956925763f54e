//! [`Providers`]: the remote model services a session knows, by name: where each one is,
//! the environment variable holding its API key (the key itself is read when a call is
//! made and never stored, printed or written), its rate limits and prices. Pipeline files
//! declare them as `[providers.NAME]`, SQL sessions as `SET nodefusion.provider.NAME.KEY`.
//! A call naming no provider uses the one named `default`, else OpenAI's convention:
//! `OPENAI_BASE_URL` (or `https://api.openai.com/v1`) with the key in `OPENAI_API_KEY`.

use std::collections::BTreeMap;

use super::limiter::RateLimits;

/// Where the default provider is when `OPENAI_BASE_URL` is not set.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// The keys a provider takes, with what each means.
pub const PROVIDER_KEYS: &[(&str, &str)] = &[
    (
        "base_url",
        "the API's base URL, e.g. http://127.0.0.1:8000/v1",
    ),
    (
        "api_key_env",
        "the environment variable holding the API key",
    ),
    ("model", "the model of calls that name none"),
    ("rpm", "requests per minute the provider allows"),
    ("tpm", "tokens per minute the provider allows"),
    (
        "burst_seconds",
        "how many seconds of the limits may go out at once (default 1)",
    ),
    ("price_in_per_mtok", "USD per million input tokens"),
    ("price_out_per_mtok", "USD per million output tokens"),
    (
        "max_batch_tokens",
        "embed_remote: the most tokens one request may carry",
    ),
];

/// One remote model service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provider {
    /// The API's base URL (the part before `/chat/completions`).
    pub base_url: Option<String>,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// The model of calls that name none.
    pub model: Option<String>,
    /// Its rate limits.
    pub limits: RateLimits,
    /// USD per million input tokens.
    pub price_in_per_mtok: Option<f64>,
    /// USD per million output tokens.
    pub price_out_per_mtok: Option<f64>,
    /// `embed_remote`: the most tokens one request may carry.
    pub max_batch_tokens: Option<u64>,
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("'{key}' must be a number, got '{value}'"))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    key: &str,
    value: &str,
) -> Result<T, String> {
    match value.trim().parse::<T>() {
        Ok(parsed) if parsed > T::default() => Ok(parsed),
        _ => Err(format!("'{key}' must be a number above 0, got '{value}'")),
    }
}

fn price(key: &str, value: &str) -> Result<f64, String> {
    let parsed: f64 = number(key, value)?;
    if parsed.is_finite() && parsed >= 0.0 {
        Ok(parsed)
    } else {
        Err(format!(
            "'{key}' must be a price of 0 or more, got '{value}'"
        ))
    }
}

impl Provider {
    /// The provider of OpenAI's convention, from `OPENAI_BASE_URL`.
    pub fn openai() -> Self {
        Self {
            base_url: Some(
                std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| OPENAI_BASE_URL.to_string()),
            ),
            api_key_env: Some("OPENAI_API_KEY".to_string()),
            ..Self::default()
        }
    }

    /// Sets `key` to `value` (given as text); the error says what is wrong, not where.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let text = || Some(value.trim().to_string()).filter(|text| !text.is_empty());
        match key {
            "base_url" => {
                let url = text().ok_or("'base_url' cannot be empty")?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!(
                        "'base_url' must start with http:// or https://, got '{url}'"
                    ));
                }
                self.base_url = Some(url.trim_end_matches('/').to_string());
            }
            "api_key_env" => {
                self.api_key_env = Some(text().ok_or("'api_key_env' cannot be empty")?);
            }
            "model" => self.model = Some(text().ok_or("'model' cannot be empty")?),
            "rpm" => self.limits.rpm = Some(positive(key, value)?),
            "tpm" => self.limits.tpm = Some(positive(key, value)?),
            "burst_seconds" => self.limits.burst_seconds = Some(positive(key, value)?),
            "price_in_per_mtok" => self.price_in_per_mtok = Some(price(key, value)?),
            "price_out_per_mtok" => self.price_out_per_mtok = Some(price(key, value)?),
            "max_batch_tokens" => self.max_batch_tokens = Some(positive(key, value)?),
            _ => return Err(format!("unknown provider key '{key}'")),
        }
        Ok(())
    }

    /// The settings as `(key, value)` text pairs, for `SHOW` and plans.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let mut entries = Vec::new();
        let mut push = |key, value: Option<String>| {
            if let Some(value) = value {
                entries.push((key, value));
            }
        };
        push("base_url", self.base_url.clone());
        push("api_key_env", self.api_key_env.clone());
        push("model", self.model.clone());
        push("rpm", self.limits.rpm.map(|v| v.to_string()));
        push("tpm", self.limits.tpm.map(|v| v.to_string()));
        push(
            "burst_seconds",
            self.limits.burst_seconds.map(|v| v.to_string()),
        );
        push(
            "price_in_per_mtok",
            self.price_in_per_mtok.map(|v| v.to_string()),
        );
        push(
            "price_out_per_mtok",
            self.price_out_per_mtok.map(|v| v.to_string()),
        );
        push(
            "max_batch_tokens",
            self.max_batch_tokens.map(|v| v.to_string()),
        );
        entries
    }

    /// The API key, read from the environment now; `Ok(None)` when the provider names no
    /// variable. The error names the variable, never a value.
    pub fn api_key(&self, name: &str) -> Result<Option<String>, String> {
        let Some(variable) = &self.api_key_env else {
            return Ok(None);
        };
        match std::env::var(variable) {
            Ok(key) if !key.trim().is_empty() => Ok(Some(key.trim().to_string())),
            _ => Err(format!(
                "provider '{name}': the API key variable {variable} is not set"
            )),
        }
    }

    /// The cost in nano-dollars of `input` and `output` tokens.
    pub fn cost_nanodollars(&self, input: u64, output: u64) -> u64 {
        let cost = input as f64 * self.price_in_per_mtok.unwrap_or(0.0)
            + output as f64 * self.price_out_per_mtok.unwrap_or(0.0);
        (cost * 1000.0).round() as u64
    }
}

/// The providers of a session, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Providers {
    named: BTreeMap<String, Provider>,
}

impl Providers {
    /// Sets `key` of provider `name` (made on first use).
    pub fn set(&mut self, name: &str, key: &str, value: &str) -> Result<(), String> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "provider names are letters, digits, '_' and '-', got '{name}'"
            ));
        }
        self.named
            .entry(name.to_string())
            .or_default()
            .set(key, value)
    }

    /// The providers among a session's configuration entries
    /// (`nodefusion.provider.NAME.KEY = VALUE`), for calls made outside nodefusion's
    /// operator; entries that do not parse are left out (they were checked when set).
    pub fn from_config_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut providers = Providers::default();
        for (key, value) in entries {
            let Some((name, key)) = key
                .strip_prefix("nodefusion.provider.")
                .and_then(|rest| rest.rsplit_once('.'))
            else {
                continue;
            };
            let _ = providers.set(name, key, value);
        }
        providers
    }

    /// Adds (or replaces) provider `name`.
    pub fn insert(&mut self, name: impl Into<String>, provider: Provider) {
        self.named.insert(name.into(), provider);
    }

    /// Every provider with its name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Provider)> {
        self.named
            .iter()
            .map(|(name, provider)| (name.as_str(), provider))
    }

    /// The names of the providers.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.named.keys().map(String::as_str)
    }

    /// The providers of `other` over these.
    pub fn merged(&self, other: &Providers) -> Providers {
        let mut named = self.named.clone();
        named.extend(other.named.clone());
        Providers { named }
    }

    /// These providers as one of `processes` processes that call them at once sees them
    /// (the executors of a cluster): each one's requests and tokens per minute divided
    /// among the processes (at least one each), so that together they stay under the
    /// provider's limits.
    pub fn shared_among(&self, processes: usize) -> Providers {
        let share =
            |limit: Option<u64>| limit.map(|limit| (limit / processes.max(1) as u64).max(1));
        let named = self
            .named
            .iter()
            .map(|(name, provider)| {
                let mut shared = provider.clone();
                shared.limits.rpm = share(provider.limits.rpm);
                shared.limits.tpm = share(provider.limits.tpm);
                (name.clone(), shared)
            })
            .collect();
        Providers { named }
    }

    /// Provider `name`, or for `None` the default one; with its name. The error lists the
    /// providers there are.
    pub fn resolve(&self, name: Option<&str>) -> Result<(String, Provider), String> {
        let name = name.unwrap_or("default");
        match self.named.get(name) {
            Some(provider) if provider.base_url.is_some() => {
                Ok((name.to_string(), provider.clone()))
            }
            Some(_) => Err(format!("provider '{name}' has no base_url")),
            None if name == "default" => Ok(("default".to_string(), Provider::openai())),
            None => {
                let known: Vec<&str> = self.names().collect();
                Err(if known.is_empty() {
                    format!(
                        "unknown provider '{name}': none is declared ([providers.{name}] in a pipeline file, SET nodefusion.provider.{name}.base_url in SQL)"
                    )
                } else {
                    format!(
                        "unknown provider '{name}'; the providers are {}",
                        known.join(", ")
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_limits_are_divided_among_the_processes_and_never_reach_zero() {
        let mut providers = Providers::default();
        providers.set("local", "rpm", "1200").unwrap();
        providers.set("local", "tpm", "3").unwrap();
        providers
            .set("free", "base_url", "http://127.0.0.1:1/v1")
            .unwrap();
        let shared = providers.shared_among(4);
        let limits = |providers: &Providers, name: &str| {
            let (_, provider) = providers.iter().find(|(found, _)| *found == name).unwrap();
            (provider.limits.rpm, provider.limits.tpm)
        };
        assert_eq!(limits(&shared, "local"), (Some(300), Some(1)));
        assert_eq!(limits(&shared, "free"), (None, None));
        assert_eq!(providers.shared_among(1), providers);
    }
}
