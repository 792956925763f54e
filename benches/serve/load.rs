//! The load generator of `benches/serve/run.sh`: OpenAI embedding requests against any
//! server of the API (`nodefusion serve` and its peers), on the same generated texts for
//! each, with a different run of texts in every request.
//!
//! - closed loop: `--clients` clients, each sending its next request when its last one is
//!   answered, for every combination of clients, texts per request and text length;
//! - open loop: requests sent at a fixed rate whether or not earlier ones are answered,
//!   their latency measured from the time each was due (not when it went out), so a
//!   generator or server that falls behind shows in the figures.
//!
//! Each configuration prints one JSON line: requests, success rate (a 200 with one vector
//! per text; a 429 is a failure), texts/s and tokens/s of the successful ones (tokens as
//! the model counts them, truncated at its window, the same for every server), and the
//! 50th, 95th and 99th percentile latency in milliseconds. Vectors are asked for in base64,
//! as the OpenAI clients do by default.
//!
//! ```text
//! cargo bench --bench serve_load -- --url http://127.0.0.1:8080/v1/embeddings \
//!     --system nodefusion --closed 1,8,64 --texts 1,8,32 --chars 500,2000 --seconds 10
//! cargo bench --bench serve_load -- --url ... --system nodefusion --rates 2,4,8 \
//!     --texts 8 --chars 500 --seconds 20
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nodefusion::datagen::{SplitMix64, text_of_length};
use nodefusion_model::{Arithmetic, DEFAULT_MODEL, SentenceEncoder, resolve};
use serde_json::json;

/// Generated texts of each length in the pool requests cycle through.
const POOL: usize = 4096;

/// What the command line asks for.
struct Options {
    url: String,
    system: String,
    model: String,
    closed: Vec<usize>,
    rates: Vec<f64>,
    texts: Vec<usize>,
    chars: Vec<usize>,
    seconds: f64,
}

fn list<T: std::str::FromStr>(text: &str) -> Vec<T> {
    text.split(',')
        .map(|item| {
            item.trim()
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {item}"))
        })
        .collect()
}

impl Options {
    fn parse() -> Self {
        let mut options = Self {
            url: "http://127.0.0.1:8080/v1/embeddings".into(),
            system: "nodefusion".into(),
            model: DEFAULT_MODEL.into(),
            closed: Vec::new(),
            rates: Vec::new(),
            texts: vec![8],
            chars: vec![500],
            seconds: 10.0,
        };
        let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| panic!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--url" => options.url = value(),
                "--system" => options.system = value(),
                "--model" => options.model = value(),
                "--closed" => options.closed = list(&value()),
                "--rates" => options.rates = list(&value()),
                "--texts" => options.texts = list(&value()),
                "--chars" => options.chars = list(&value()),
                "--seconds" => options.seconds = list(&value())[0],
                other => panic!("unknown option {other}"),
            }
        }
        options
    }
}

/// The texts of one length, with their token counts as the model sees them.
struct Texts {
    texts: Vec<String>,
    tokens: Vec<usize>,
    next: AtomicUsize,
}

impl Texts {
    fn generate(chars: usize, encoder: &SentenceEncoder) -> Self {
        let mut rng = SplitMix64::new(chars as u64);
        let texts: Vec<String> = (0..POOL).map(|_| text_of_length(&mut rng, chars)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokens = encoder
            .tokenize(&refs)
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect();
        Self {
            texts,
            tokens,
            next: AtomicUsize::new(0),
        }
    }

    /// The body of the next request of `count` texts, and their tokens.
    fn next_request(&self, count: usize, model: &str) -> (String, usize) {
        let start = self.next.fetch_add(count, Ordering::Relaxed);
        let positions: Vec<usize> = (start..start + count).map(|i| i % POOL).collect();
        let input: Vec<&str> = positions.iter().map(|&i| self.texts[i].as_str()).collect();
        let tokens = positions.iter().map(|&i| self.tokens[i]).sum();
        let body = json!({"input": input, "model": model, "encoding_format": "base64"});
        (body.to_string(), tokens)
    }
}

/// One request's fate.
struct Sample {
    ok: bool,
    latency: Duration,
    texts: usize,
    tokens: usize,
}

/// Sends `body` (of `texts` texts) and says whether it came back with one vector per text.
async fn send(client: &reqwest::Client, url: &str, body: String, texts: usize) -> bool {
    let Ok(response) = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    else {
        return false;
    };
    if response.status() != 200 {
        return false;
    }
    match response.text().await {
        Ok(text) => text.matches("\"index\"").count() == texts,
        Err(_) => false,
    }
}

/// The `q`-quantile of sorted `values`, in milliseconds.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Prints a configuration's figures as a JSON line.
fn report(options: &Options, case: serde_json::Value, samples: &[Sample], seconds: f64) {
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let texts: usize = ok.iter().map(|s| s.texts).sum();
    let tokens: usize = ok.iter().map(|s| s.tokens).sum();
    let mut line = json!({
        "system": options.system,
        "requests": samples.len(),
        "success_rate": ok.len() as f64 / samples.len().max(1) as f64,
        "texts_per_second": texts as f64 / seconds,
        "tokens_per_second": tokens as f64 / seconds,
        "p50_ms": quantile(&latencies, 0.50),
        "p95_ms": quantile(&latencies, 0.95),
        "p99_ms": quantile(&latencies, 0.99),
    });
    if let (Some(line), Some(case)) = (line.as_object_mut(), case.as_object()) {
        line.extend(case.clone());
    }
    println!("{line}");
}

/// A request of the closed loop, when it went out and came back.
struct Timed {
    sent: Instant,
    done: Instant,
    sample: Sample,
}

/// `clients` clients sending requests of `count` texts back to back. Each client's first
/// request is the warm-up (they all start at once, a burst); from when the last of them is
/// answered, the requests answered in the next `seconds` (or the warm-up round's time, if
/// longer, so that a window holds whole requests) are counted. Requests in
/// flight at the end are awaited, so that the next configuration starts on an idle server.
async fn closed_loop(options: &Options, texts: &Arc<Texts>, clients: usize, count: usize) {
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let warmed = Arc::new((AtomicUsize::new(0), tokio::sync::Notify::new()));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, texts) = (client.clone(), Arc::clone(texts));
            let (stop, warmed) = (Arc::clone(&stop), Arc::clone(&warmed));
            let (url, model) = (options.url.clone(), options.model.clone());
            tokio::spawn(async move {
                let mut timed = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (body, tokens) = texts.next_request(count, &model);
                    let sent = Instant::now();
                    let ok = send(&client, &url, body, count).await;
                    let done = Instant::now();
                    if timed.is_empty() && warmed.0.fetch_add(1, Ordering::SeqCst) + 1 == clients {
                        warmed.1.notify_one();
                    }
                    timed.push(Timed {
                        sent,
                        done,
                        sample: Sample {
                            ok,
                            latency: done - sent,
                            texts: count,
                            tokens,
                        },
                    });
                }
                timed
            })
        })
        .collect();
    let first = Instant::now();
    let notified = warmed.1.notified();
    if warmed.0.load(Ordering::SeqCst) < clients {
        notified.await;
    }
    let from = Instant::now();
    let window = Duration::from_secs_f64(options.seconds).max(from - first);
    tokio::time::sleep(window).await;
    let until = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for task in tasks {
        for timed in task.await.unwrap().into_iter().skip(1) {
            if timed.done > from && timed.done <= until && timed.sent >= first {
                samples.push(timed.sample);
            }
        }
    }
    let case = json!({"mode": "closed", "clients": clients, "texts": count,
                      "chars": texts.texts[0].chars().count(),
                      "window_s": (until - from).as_secs_f64()});
    report(options, case, &samples, (until - from).as_secs_f64());
}

/// Requests of `count` texts sent at `rate` per second for the options' seconds, each
/// timed from when it was due.
async fn open_loop(options: &Options, texts: &Arc<Texts>, rate: f64, count: usize) {
    let client = reqwest::Client::new();
    let requests = (rate * options.seconds).round() as usize;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let tasks: Vec<_> = (0..requests)
        .map(|index| {
            let due = start + Duration::from_secs_f64(index as f64 / rate);
            let (client, texts) = (client.clone(), Arc::clone(texts));
            let (url, model) = (options.url.clone(), options.model.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(due).await;
                let (body, tokens) = texts.next_request(count, &model);
                let ok = send(&client, &url, body, count).await;
                Sample {
                    ok,
                    latency: due.elapsed(),
                    texts: count,
                    tokens,
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.push(task.await.unwrap());
    }
    let case = json!({"mode": "open", "rate": rate, "texts": count,
                      "chars": texts.texts[0].chars().count()});
    report(options, case, &samples, options.seconds);
}

fn main() {
    let options = Options::parse();
    let model = resolve(DEFAULT_MODEL).expect("run `nodefusion model pull` first");
    let encoder = SentenceEncoder::load(&model, 1, Arithmetic::Fp32).unwrap();
    // One thread: the generator shares the machine with the server it measures.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for &chars in &options.chars {
        let texts = Arc::new(Texts::generate(chars, &encoder));
        for &count in &options.texts {
            for &clients in &options.closed {
                runtime.block_on(closed_loop(&options, &texts, clients, count));
            }
            for &rate in &options.rates {
                runtime.block_on(open_loop(&options, &texts, rate, count));
            }
        }
    }
}
