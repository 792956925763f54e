//! One request to an OpenAI-compatible API, with everything around it: the provider's key
//! from its environment variable (never written anywhere), the answer's `usage` counted and
//! priced, the server's `x-ratelimit-*` budgets given to the limiter, a 429 turned into a
//! cool-down for every call to the service, and each status into the right failure:
//! 401 / 403 stop the run, other 4xx fail the row, 429 / 5xx / network errors are tried again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nodefusion_function::CallError;
use nodefusion_function::calls::{CallContext, Limiter, Provider, ServerBudgets};
use serde_json::Value;

/// A provider a call goes to, resolved from the session's providers.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The provider's name, for messages.
    pub name: String,
    /// The provider.
    pub provider: Provider,
}

/// What a service reported using for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
}

/// The client every call shares: connections are reused.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

/// A provider's duration as written in `x-ratelimit-reset-*`: `1s`, `6m0s`, `120ms`, `1.5s`.
pub fn provider_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ms" => 0.001,
            "s" | "" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    server_wait(total)
}

/// The longest wait a server's answer is taken at.
const LONGEST_SERVER_WAIT: Duration = Duration::from_secs(3600);

/// `seconds` a server asked to wait, as a duration of at most an hour; `None` for a value
/// that is not a wait (negative, not a number).
fn server_wait(seconds: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .map(|wait| wait.min(LONGEST_SERVER_WAIT))
        .or_else(|| (seconds.is_finite() && seconds > 0.0).then_some(LONGEST_SERVER_WAIT))
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name)?.to_str().ok()
}

fn header_number(response: &reqwest::Response, name: &str) -> Option<u64> {
    header(response, name)?
        .trim()
        .parse::<f64>()
        .ok()
        .map(|value| value as u64)
}

/// The budgets an answer's `x-ratelimit-*` headers report.
fn server_budgets(response: &reqwest::Response) -> ServerBudgets {
    ServerBudgets {
        limit_requests: header_number(response, "x-ratelimit-limit-requests"),
        limit_tokens: header_number(response, "x-ratelimit-limit-tokens"),
        remaining_requests: header_number(response, "x-ratelimit-remaining-requests"),
        remaining_tokens: header_number(response, "x-ratelimit-remaining-tokens"),
    }
}

/// How long a 429 asks to wait: `retry-after-ms`, `retry-after` (seconds), the later of the
/// reset times, else a second.
fn rate_limit_wait(response: &reqwest::Response) -> Duration {
    let milliseconds = header(response, "retry-after-ms")
        .and_then(|value| value.trim().parse::<f64>().ok())
        .and_then(|ms| server_wait(ms / 1000.0));
    let seconds = || {
        header(response, "retry-after")
            .and_then(|value| value.trim().parse::<f64>().ok())
            .and_then(server_wait)
    };
    let reset = || {
        ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
            .iter()
            .filter_map(|name| header(response, name).and_then(provider_duration))
            .max()
    };
    milliseconds
        .or_else(seconds)
        .or_else(reset)
        .unwrap_or(Duration::from_secs(1))
}

/// A transport error with its causes (`error sending request: ... Connection refused`),
/// without the URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The `error.message` of an error answer, shortened.
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| value["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    let mut short: String = message.chars().take(300).collect();
    if short.len() < message.len() {
        short.push_str("...");
    }
    short
}

impl Endpoint {
    /// The limiter of this provider's `model` (and key) in the process.
    pub fn limiter(&self, model: &str) -> Result<Arc<Limiter>, CallError> {
        let key = self
            .provider
            .api_key(&self.name)
            .map_err(CallError::fatal)?;
        let mut fingerprint = DefaultHasher::new();
        key.hash(&mut fingerprint);
        let base_url = self.provider.base_url.as_deref().unwrap_or_default();
        let identity = format!("{base_url}|{model}|{:016x}", fingerprint.finish());
        Ok(Limiter::shared(&identity, self.provider.limits))
    }

    /// POSTs `body` to `path` (`/chat/completions`) and returns the answer's JSON and usage,
    /// having counted requests, tokens and cost and given the server's budgets to the
    /// call's permit (the caller settles it, once its requests are done).
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        context: &mut CallContext<'_>,
    ) -> Result<(Value, Usage), CallError> {
        let name = &self.name;
        let base_url = self.provider.base_url.as_deref().unwrap_or_default();
        let mut request = client()
            .post(format!("{base_url}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = self.provider.api_key(name).map_err(CallError::fatal)? {
            request = request.bearer_auth(key);
        }
        context.usage.requests.add(1);
        let response = request.send().await.map_err(|error| {
            CallError::transient(format!("provider '{name}': {}", describe(error)), None)
        })?;
        let status = response.status();
        if let Some(permit) = &mut context.permit {
            permit.observe(&server_budgets(&response));
        }
        if status.as_u16() == 429 {
            context.usage.rate_limited.add(1);
            let wait = rate_limit_wait(&response);
            if let Some(permit) = &context.permit {
                permit.limiter().rate_limited(wait);
            }
            let message = error_message(&response.text().await.unwrap_or_default());
            return Err(CallError {
                retry_after: Some(wait),
                ..CallError::rate_limited(format!("provider '{name}': HTTP 429: {message}"))
            });
        }
        if matches!(status.as_u16(), 401 | 403) {
            let variable = self.provider.api_key_env.as_deref().unwrap_or("(none)");
            return Err(CallError::fatal(format!(
                "provider '{name}' refused the API key from {variable} (HTTP {})",
                status.as_u16()
            )));
        }
        let text = response.text().await.map_err(|error| {
            CallError::transient(format!("provider '{name}': {}", describe(error)), None)
        })?;
        if status.is_server_error() {
            return Err(CallError::transient(
                format!(
                    "provider '{name}': HTTP {}: {}",
                    status.as_u16(),
                    error_message(&text)
                ),
                None,
            ));
        }
        if !status.is_success() {
            return Err(CallError::permanent(format!(
                "provider '{name}': HTTP {}: {}",
                status.as_u16(),
                error_message(&text)
            )));
        }
        let answer: Value = serde_json::from_str(&text).map_err(|error| {
            CallError::transient(
                format!("provider '{name}': the answer is not JSON: {error}"),
                None,
            )
        })?;
        let usage = Usage {
            input: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            output: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        };
        let metrics = context.usage;
        metrics.input_tokens.add(usage.input as usize);
        metrics.output_tokens.add(usage.output as usize);
        metrics
            .cost_nanodollars
            .add(self.provider.cost_nanodollars(usage.input, usage.output) as usize);
        Ok((answer, usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_a_server_asks_for_are_kept_within_an_hour_and_nonsense_is_ignored() {
        assert_eq!(server_wait(2.5), Some(Duration::from_millis(2500)));
        assert_eq!(server_wait(1e30), Some(LONGEST_SERVER_WAIT));
        assert_eq!(server_wait(f64::INFINITY), None);
        assert_eq!(server_wait(-5.0), None);
        assert_eq!(server_wait(f64::NAN), None);
        assert_eq!(
            provider_duration("99999999999999999999h"),
            Some(LONGEST_SERVER_WAIT)
        );
        assert_eq!(provider_duration("-1s"), None);
    }

    #[test]
    fn provider_durations_read_as_the_providers_write_them() {
        for (text, seconds) in [
            ("1s", 1.0),
            ("6m0s", 360.0),
            ("120ms", 0.12),
            ("1.5s", 1.5),
            ("2", 2.0),
        ] {
            assert_eq!(
                provider_duration(text),
                Some(Duration::from_secs_f64(seconds)),
                "{text}"
            );
        }
        assert_eq!(provider_duration("soon"), None);
        assert_eq!(provider_duration(""), None);
    }
}
