//! `nodefusion-llm-server`: an OpenAI-compatible API server on 127.0.0.1 for trying and
//! testing `llm` and `embed_remote` pipelines offline, and for the tests and benchmarks.
//! It serves `/v1/chat/completions` and `/v1/embeddings` with deterministic answers derived
//! from the request, `usage` in every response, requests-per-minute and tokens-per-minute
//! limits enforced for real (`x-ratelimit-*` headers, 429 with `retry-after-ms` and
//! `retry-after`), latency drawn from a log-normal distribution, an occasional 500 if asked,
//! 400 for prompts beyond the context window, and 401 without the right key. `GET /stats`
//! tells what it saw.
//!
//! ```text
//! nodefusion-llm-server --rpm 600 --tpm 60000 --latency-ms 200 --api-key-env LOCAL_KEY
//! ```

mod answers;
mod http;
mod limits;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use answers::{Chat, Embeddings, Refusal, splitmix};
use http::{Request, Response, read_request, write_response};
use limits::{Limits, Verdict};

/// An OpenAI-compatible API server for tests and offline trials.
#[derive(Debug, Parser)]
#[command(name = "nodefusion-llm-server", version)]
struct Options {
    /// Where to listen; port 0 picks a free one. The address is printed on the first line.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// Requests per minute the server accepts (unlimited when absent).
    #[arg(long)]
    rpm: Option<u64>,
    /// Tokens per minute (prompt plus completion) the server accepts.
    #[arg(long)]
    tpm: Option<u64>,
    /// Leave out the `x-ratelimit-*` headers.
    #[arg(long)]
    no_limit_headers: bool,
    /// How many seconds of refill the budgets hold (providers hold a minute's worth).
    #[arg(long, default_value_t = 60.0)]
    burst_seconds: f64,
    /// Mean latency of an answer, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    latency_ms: f64,
    /// Spread of the latency: sigma of its log-normal distribution.
    #[arg(long, default_value_t = 0.5)]
    latency_sigma: f64,
    /// Fraction of requests answered with a 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Seed of the random draws (latency, errors, answers at temperature > 0).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Environment variable holding the API key the server requires (none when absent).
    #[arg(long)]
    api_key_env: Option<String>,
    /// The context window: prompt plus `max_tokens` beyond it is a 400.
    #[arg(long, default_value_t = 8192)]
    context_tokens: u64,
    /// `max_tokens` of a request that gives none.
    #[arg(long, default_value_t = 256)]
    default_max_tokens: u64,
    /// Length of embedding vectors of a request that gives no `dimensions`.
    #[arg(long, default_value_t = 32)]
    dimensions: usize,
    /// The most inputs one embeddings request may hold.
    #[arg(long, default_value_t = 2048)]
    max_embedding_inputs: usize,
}

/// What the server counted.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    served: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    bad_requests: AtomicU64,
    unauthorized: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    embedding_inputs: AtomicU64,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
    /// Per second since the first request: answers served and 429s.
    timeline: Mutex<Timeline>,
}

/// Answers served and 429s per second since the first request.
#[derive(Debug, Default)]
struct Timeline {
    start: Option<std::time::Instant>,
    seconds: Vec<[u64; 2]>,
}

impl Timeline {
    fn record(&mut self, rate_limited: bool) {
        let start = *self.start.get_or_insert_with(std::time::Instant::now);
        let second = start.elapsed().as_secs() as usize;
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, [0, 0]);
        }
        self.seconds[second][usize::from(rate_limited)] += 1;
    }
}

impl Stats {
    fn json(&self) -> Value {
        let read = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        json!({
            "requests": read(&self.requests),
            "served": read(&self.served),
            "rate_limited": read(&self.rate_limited),
            "server_errors": read(&self.server_errors),
            "bad_requests": read(&self.bad_requests),
            "unauthorized": read(&self.unauthorized),
            "prompt_tokens": read(&self.prompt_tokens),
            "completion_tokens": read(&self.completion_tokens),
            "embedding_inputs": read(&self.embedding_inputs),
            "most_in_flight": read(&self.most_in_flight),
            "timeline": self.timeline.lock().expect("timeline lock").seconds,
        })
    }
}

struct Server {
    options: Options,
    api_key: Option<String>,
    limits: Mutex<Limits>,
    draws: AtomicU64,
    stats: Stats,
}

fn error_body(message: &str, kind: &str, code: &str) -> String {
    json!({"error": {"message": message, "type": kind, "code": code}}).to_string()
}

fn refusal(status: u16, message: &str, code: &str) -> Response {
    let kind = match status {
        401 => "authentication_error",
        429 => "rate_limit_error",
        500 => "server_error",
        _ => "invalid_request_error",
    };
    Response {
        status,
        headers: Vec::new(),
        body: error_body(message, kind, code),
    }
}

impl Server {
    /// A uniform draw in [0, 1).
    fn uniform(&self) -> f64 {
        let draw = self.draws.fetch_add(1, Ordering::Relaxed);
        (splitmix(self.options.seed ^ draw.wrapping_mul(0x9e37_79b9)) >> 11) as f64
            / (1u64 << 53) as f64
    }

    /// A latency drawn from a log-normal distribution with the configured mean.
    fn latency(&self) -> Duration {
        if self.options.latency_ms <= 0.0 {
            return Duration::ZERO;
        }
        let (u1, u2) = (self.uniform().max(1e-12), self.uniform());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let sigma = self.options.latency_sigma;
        let factor = (sigma * normal - sigma * sigma / 2.0).exp();
        Duration::from_secs_f64(self.options.latency_ms * factor / 1000.0)
    }

    fn authorized(&self, request: &Request) -> bool {
        match &self.api_key {
            None => true,
            Some(key) => request.header("authorization") == Some(&format!("Bearer {key}")),
        }
    }

    /// Charges `tokens` to the limits; the refusal when they do not allow it.
    fn admit(&self, tokens: u64) -> Result<Vec<(String, String)>, Response> {
        let verdict = self.limits.lock().expect("limits lock").charge(tokens);
        match verdict {
            Verdict::Allowed(headers) => Ok(headers),
            Verdict::Limited(kind, wait, mut headers) => {
                let wait_ms = wait.as_millis() + 1;
                headers.push(("retry-after-ms".into(), wait_ms.to_string()));
                headers.push(("retry-after".into(), wait_ms.div_ceil(1000).to_string()));
                let message =
                    format!("Rate limit reached on {kind} per minute; try again in {wait_ms}ms");
                Err(Response {
                    headers,
                    ..refusal(429, &message, &format!("rate_limit_exceeded_{kind}"))
                })
            }
            Verdict::TooLarge(tokens) => Err(refusal(
                400,
                &format!("Request too large: {tokens} tokens exceed the tokens-per-minute limit"),
                "request_too_large",
            )),
        }
    }

    async fn chat(&self, body: &Value) -> Result<Response, Response> {
        let variation = self.draws.fetch_add(1, Ordering::Relaxed);
        let chat = Chat::parse(body, self.options.default_max_tokens, variation)
            .map_err(|(status, message): Refusal| refusal(status, &message, "invalid_request"))?;
        if chat.prompt_tokens + chat.max_tokens > self.options.context_tokens {
            return Err(refusal(
                400,
                &format!(
                    "This model's maximum context length is {} tokens; you requested {} ({} in the messages, {} for the completion)",
                    self.options.context_tokens,
                    chat.prompt_tokens + chat.max_tokens,
                    chat.prompt_tokens,
                    chat.max_tokens
                ),
                "context_length_exceeded",
            ));
        }
        let (content, truncated) = chat.answer();
        let id = self.stats.requests.load(Ordering::Relaxed);
        let (response, completion_tokens) = chat.response(id, &content, truncated);
        let headers = self.admit(chat.prompt_tokens + completion_tokens)?;
        self.failure_or_wait().await?;
        self.stats
            .prompt_tokens
            .fetch_add(chat.prompt_tokens, Ordering::SeqCst);
        self.stats
            .completion_tokens
            .fetch_add(completion_tokens, Ordering::SeqCst);
        Ok(Response {
            status: 200,
            headers,
            body: response.to_string(),
        })
    }

    async fn embeddings(&self, body: &Value) -> Result<Response, Response> {
        let request = Embeddings::parse(
            body,
            self.options.dimensions,
            self.options.max_embedding_inputs,
        )
        .map_err(|(status, message)| refusal(status, &message, "invalid_request"))?;
        let headers = self.admit(request.prompt_tokens)?;
        self.failure_or_wait().await?;
        self.stats
            .prompt_tokens
            .fetch_add(request.prompt_tokens, Ordering::SeqCst);
        self.stats
            .embedding_inputs
            .fetch_add(request.inputs.len() as u64, Ordering::SeqCst);
        Ok(Response {
            status: 200,
            headers,
            body: request.response().to_string(),
        })
    }

    /// The occasional 500, else the latency of an answer.
    async fn failure_or_wait(&self) -> Result<(), Response> {
        if self.options.error_rate > 0.0 && self.uniform() < self.options.error_rate {
            return Err(refusal(
                500,
                "The server had an error while processing your request",
                "server_error",
            ));
        }
        tokio::time::sleep(self.latency()).await;
        Ok(())
    }

    async fn answer(&self, request: &Request) -> Response {
        if request.method == "GET" && request.path == "/stats" {
            return Response {
                status: 200,
                headers: Vec::new(),
                body: self.stats.json().to_string(),
            };
        }
        if !self.authorized(request) {
            return refusal(401, "Incorrect API key provided", "invalid_api_key");
        }
        let route = (request.method.as_str(), request.path.as_str());
        if !matches!(route, ("POST", "/v1/chat/completions" | "/v1/embeddings")) {
            return refusal(
                404,
                &format!("no route {} {}", route.0, route.1),
                "not_found",
            );
        }
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(error) => {
                return refusal(
                    400,
                    &format!("the body is not JSON: {error}"),
                    "invalid_json",
                );
            }
        };
        let outcome = if route.1 == "/v1/embeddings" {
            self.embeddings(&body).await
        } else {
            self.chat(&body).await
        };
        outcome.unwrap_or_else(|refused| refused)
    }

    fn count(&self, status: u16) {
        if matches!(status, 200 | 429) {
            self.stats
                .timeline
                .lock()
                .expect("timeline lock")
                .record(status == 429);
        }
        let counter = match status {
            200 => &self.stats.served,
            401 => &self.stats.unauthorized,
            429 => &self.stats.rate_limited,
            500 => &self.stats.server_errors,
            _ => &self.stats.bad_requests,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

async fn serve(server: Arc<Server>, mut socket: TcpStream) {
    let mut pending = Vec::new();
    while let Some(request) = read_request(&mut socket, &mut pending).await {
        let counted = request.path != "/stats";
        if counted {
            server.stats.requests.fetch_add(1, Ordering::SeqCst);
            let now = server.stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            server.stats.most_in_flight.fetch_max(now, Ordering::SeqCst);
        }
        let response = server.answer(&request).await;
        if counted {
            server.count(response.status);
            server.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        let closing = request
            .header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"));
        if !write_response(&mut socket, &response).await || closing {
            return;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::parse();
    let api_key = match &options.api_key_env {
        Some(name) => Some(std::env::var(name).map_err(|_| {
            std::io::Error::other(format!(
                "--api-key-env: environment variable {name} is not set"
            ))
        })?),
        None => None,
    };
    let listener = TcpListener::bind(&options.bind).await?;
    println!("listening on http://{}/v1", listener.local_addr()?);
    let server = Arc::new(Server {
        limits: Mutex::new(Limits::new(
            options.rpm,
            options.tpm,
            options.burst_seconds,
            !options.no_limit_headers,
        )),
        options,
        api_key,
        draws: AtomicU64::new(0),
        stats: Stats::default(),
    });
    loop {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        tokio::spawn(serve(Arc::clone(&server), socket));
    }
}
