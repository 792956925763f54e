//! `nodefusion serve` as a real process on a free port: OpenAI's response shape in float
//! and base64, vectors equal to `embed()` in SQL, every refusal in OpenAI's error shape, the
//! character cap before tokenizing, overload answered by quick 429s while admitted requests
//! all succeed, a disconnected client's queued texts dropped, a graceful drain on SIGTERM,
//! 64 concurrent clients each getting their own texts' vectors, the result cache,
//! `embed_remote` in a pipeline pointed at the server giving `embed`'s vectors, and the
//! official openai Python client (base64 by default) getting the same vectors and reading
//! the errors.

use std::future::Future;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::FutureExt as _;
use nodefusion::datagen::{SplitMix64, text_of_length};
use nodefusion::new_context;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::embed::{cosine, vectors};
use crate::support::embedding_server::EmbeddingServer;
use crate::support::{nodefusion, stderr, stdout};

/// The served model.
const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// `count` texts of `length` characters, different for each `seed`.
fn texts(seed: u64, count: usize, length: usize) -> Vec<String> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| text_of_length(&mut rng, length))
        .collect()
}

/// Posts `body` to the server's `path`: the status, the headers and the JSON answer.
async fn post(server: &EmbeddingServer, path: &str, body: &str) -> (u16, HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let answer = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, headers, answer)
}

/// Embeds `texts` through `/v1/embeddings`: the JSON answer, which must be a 200.
async fn embeddings(server: &EmbeddingServer, texts: &[String], format: &str) -> Value {
    let body = json!({"input": texts, "model": MODEL, "encoding_format": format});
    let (status, _, answer) = post(server, "/v1/embeddings", &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The vectors of an answer, by `index`: JSON numbers, or base64 of little-endian `f32`.
fn answer_vectors(answer: &Value) -> Vec<Vec<f32>> {
    let data = answer["data"].as_array().unwrap();
    let mut vectors = vec![Vec::new(); data.len()];
    for item in data {
        let vector = match &item["embedding"] {
            Value::String(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            values => values
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect(),
        };
        vectors[item["index"].as_u64().unwrap() as usize] = vector;
    }
    vectors
}

/// `texts` as the rows `(id, text)` of SQL's `VALUES`, numbered from 0.
fn values(texts: &[String]) -> String {
    let rows: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(id, text)| format!("({id}, '{}')", text.replace('\'', "''")))
        .collect();
    format!("(VALUES {}) AS t(id, text)", rows.join(", "))
}

/// The vectors of `texts` from `embed()` in SQL.
async fn embed_in_sql(texts: &[String]) -> Vec<Vec<f32>> {
    let sql = format!(
        "SELECT embed(text) AS vector FROM {} ORDER BY id",
        values(texts)
    );
    let batches = new_context()
        .unwrap()
        .sql(&sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    vectors(&batches).into_iter().map(Option::unwrap).collect()
}

/// Waits until `done` holds, checking every 20 ms, for at most a minute.
async fn until<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn answers_in_openai_shape_in_float_and_base64_with_embeds_vectors() {
    let server = EmbeddingServer::start(&["--instances", "2"]);
    let mut sent = texts(1, 3, 200);
    // Longer than the model's window of 256 tokens: truncated as sentence-transformers does.
    sent.push(texts(2, 1, 3000).remove(0));
    let float = embeddings(&server, &sent, "float").await;
    assert_eq!(float["object"], "list");
    assert_eq!(float["model"], MODEL);
    let data = float["data"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    for (index, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], index);
    }
    let tokens = float["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(float["usage"]["total_tokens"], tokens);
    let long_alone = embeddings(&server, &sent[3..], "float").await;
    assert_eq!(long_alone["usage"]["prompt_tokens"], 256);
    assert!(tokens > 256 + 3 * 20, "{tokens} tokens");

    let floats = answer_vectors(&float);
    let base64 = embeddings(&server, &sent, "base64").await;
    assert!(base64["data"][0]["embedding"].is_string());
    assert_eq!(answer_vectors(&base64), floats);
    assert_eq!(base64["usage"], float["usage"]);

    for (served, in_sql) in floats.iter().zip(embed_in_sql(&sent).await) {
        assert_eq!(served.len(), 384);
        assert!(cosine(served, &in_sql) > 0.99999);
    }
    // The alias without /v1, and the model named without its organisation.
    let body = json!({"input": sent[0], "model": "all-MiniLM-L6-v2"}).to_string();
    let (status, _, alias) = post(&server, "/embeddings", &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer_vectors(&alias)[0], floats[0]);

    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.url)).send();
    let models: Value =
        serde_json::from_str(&get("/v1/models").await.unwrap().text().await.unwrap()).unwrap();
    assert_eq!(models["data"][0]["id"], MODEL);
    assert_eq!(get("/health").await.unwrap().status(), 200);
    assert_eq!(get("/ready").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for series in [
        "nodefusion_serve_requests_total{outcome=\"success\"} 4",
        "nodefusion_serve_queue_tokens 0",
        "nodefusion_serve_batch_tokens_bucket{le=\"+Inf\"}",
        "nodefusion_serve_queue_duration_seconds_count",
        "nodefusion_serve_inference_duration_seconds_sum",
        "nodefusion_serve_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(series), "no {series} in\n{metrics}");
    }
}

#[tokio::test]
async fn every_refusal_is_in_openai_shape_and_says_what_is_wrong() {
    let server = EmbeddingServer::start(&[
        "--instances",
        "1",
        "--max-inputs",
        "4",
        "--max-body-bytes",
        "2000",
        "--max-input-chars",
        "40",
    ]);
    let cases: [(&str, &str, u16, &str); 9] = [
        (
            "/v1/embeddings",
            "{\"input\": [\"a\"",
            400,
            "not valid JSON",
        ),
        (
            "/v1/embeddings",
            r#"{"model": "all-MiniLM-L6-v2"}"#,
            400,
            "'input' is required",
        ),
        (
            "/v1/embeddings",
            r#"{"input": ["a", ""]}"#,
            400,
            "input[1] is an empty string",
        ),
        (
            "/v1/embeddings",
            r#"{"input": [[57668, 53901]], "encoding_format": "base64"}"#,
            400,
            "check_embedding_ctx_length=False",
        ),
        (
            "/v1/embeddings",
            r#"{"input": ["a", "b", "c", "d", "e"]}"#,
            400,
            "at most 4",
        ),
        (
            "/v1/embeddings",
            r#"{"input": "a", "dimensions": 1536}"#,
            400,
            "384 dimensions",
        ),
        (
            "/v1/embeddings",
            r#"{"input": "a", "model": "text-embedding-3-small"}"#,
            404,
            "'text-embedding-3-small' is not served",
        ),
        (
            "/v2/embeddings",
            r#"{"input": "a"}"#,
            404,
            "no route /v2/embeddings",
        ),
        (
            "/v1/embeddings",
            &json!({"input": "x".repeat(3000)}).to_string(),
            413,
            "larger than 2000 bytes",
        ),
    ];
    for (path, body, status, message) in cases {
        let (answered, _, answer) = post(&server, path, body).await;
        assert_eq!(answered, status, "{body}: {answer}");
        let error = &answer["error"];
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{body}: {answer}"
        );
        for field in ["type", "param", "code"] {
            assert!(error.get(field).is_some(), "no {field} in {answer}");
        }
    }
    assert_eq!(
        server
            .metric("nodefusion_serve_requests_total{outcome=\"invalid\"}")
            .await,
        8.0
    );
    // A long text is cut to --max-input-chars before tokenizing: 40 characters of words,
    // about ten tokens, where the whole text would fill the model's window.
    let long = &texts(3, 1, 1500);
    let cut = embeddings(&server, long, "float").await;
    let tokens = cut["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!((5..=20).contains(&tokens), "{tokens} tokens");
}

#[tokio::test]
async fn overload_is_refused_with_429s_while_admitted_requests_all_succeed() {
    let server = EmbeddingServer::start(&["--instances", "1", "--max-queued-tokens", "3000"]);
    let requests = (0..16).map(|client| {
        let body = json!({"input": texts(100 + client, 16, 500)}).to_string();
        let server = &server;
        async move { post(server, "/v1/embeddings", &body).await }
    });
    let answers = futures::future::join_all(requests).await;
    let mut refused = 0;
    for (status, headers, answer) in &answers {
        match status {
            200 => assert_eq!(answer["data"].as_array().unwrap().len(), 16),
            429 => {
                refused += 1;
                let seconds: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
                let millis: u64 = headers["retry-after-ms"].to_str().unwrap().parse().unwrap();
                assert!(seconds >= 1 && millis > 0);
                assert_eq!(answer["error"]["code"], "rate_limit_exceeded");
                assert!(
                    answer["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("overloaded")
                );
            }
            other => panic!("status {other}: {answer}"),
        }
    }
    assert!((1..16).contains(&refused), "{refused} of 16 refused");
    let overloaded = "nodefusion_serve_requests_total{outcome=\"overloaded\"}";
    assert_eq!(server.metric(overloaded).await, refused as f64);
    let succeeded = "nodefusion_serve_requests_total{outcome=\"success\"}";
    assert_eq!(server.metric(succeeded).await, (16 - refused) as f64);
}

#[tokio::test]
async fn a_client_that_disconnects_has_its_queued_texts_dropped() {
    let server = EmbeddingServer::start(&["--instances", "1", "--batch-tokens", "512"]);
    let sent = texts(7, 2048, 1000);
    let body = json!({"input": sent}).to_string();
    let address = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/embeddings HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    until("the texts are queued", || {
        server
            .metric("nodefusion_serve_queue_texts")
            .map(|t| t > 0.0)
    })
    .await;
    drop(stream);
    let cancelled = "nodefusion_serve_requests_total{outcome=\"cancelled\"}";
    until("the request is cancelled", || {
        server.metric(cancelled).map(|c| c == 1.0)
    })
    .await;
    assert_eq!(server.metric("nodefusion_serve_queue_texts").await, 0.0);
    let dropped = server.metric("nodefusion_serve_dropped_texts_total").await;
    let computed = server.metric("nodefusion_serve_texts_total").await;
    assert!(
        dropped > 0.0 && computed < 2048.0,
        "{dropped} dropped, {computed} computed"
    );
    until("the admitted tokens are released", || {
        server
            .metric("nodefusion_serve_admitted_tokens")
            .map(|t| t == 0.0)
    })
    .await;
    embeddings(&server, &sent[..1], "float").await;
}

#[tokio::test]
async fn sigterm_drains_admitted_requests_and_exits_0() {
    let mut server = EmbeddingServer::start(&["--instances", "1", "--drain-timeout", "600"]);
    let sent = texts(8, 64, 200);
    let in_flight = {
        let body = json!({"input": sent}).to_string();
        let url = format!("{}/v1/embeddings", server.url);
        tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .body(body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    until("the request is admitted", || {
        server
            .metric("nodefusion_serve_admitted_tokens")
            .map(|t| t > 0.0)
    })
    .await;
    server.terminate();
    let (status, text) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["data"].as_array().unwrap().len(), 64);
    let exit = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(exit.success(), "{exit}");
}

#[tokio::test]
async fn sixty_four_concurrent_clients_each_get_their_own_texts_vectors() {
    let server = EmbeddingServer::start(&["--instances", "2"]);
    let sent: Vec<Vec<String>> = (0..64).map(|client| texts(1000 + client, 3, 150)).collect();
    let requests = sent.iter().enumerate().map(|(client, texts)| {
        let format = if client % 2 == 0 { "float" } else { "base64" };
        let server = &server;
        async move { answer_vectors(&embeddings(server, texts, format).await) }
    });
    let answers = futures::future::join_all(requests).await;
    let all: Vec<String> = sent.iter().flatten().cloned().collect();
    let expected = embed_in_sql(&all).await;
    for (client, vectors) in answers.iter().enumerate() {
        assert_eq!(vectors.len(), 3);
        for (text, vector) in vectors.iter().enumerate() {
            let similarity = cosine(vector, &expected[client * 3 + text]);
            assert!(
                similarity > 0.99999,
                "client {client} text {text}: {similarity}"
            );
        }
    }
}

#[tokio::test]
async fn with_cache_a_repeated_text_is_answered_from_the_result_cache() {
    let cache = tempfile::tempdir().unwrap();
    let server = EmbeddingServer::start_with(
        &["--instances", "1", "--cache"],
        &[("NODEFUSION_CACHE", cache.path().to_str().unwrap())],
    );
    let sent = texts(9, 1, 300);
    let first = answer_vectors(&embeddings(&server, &sent, "float").await);
    // The first answer's vector is written to the cache after the answer: ask until the
    // cache has it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let again = answer_vectors(&embeddings(&server, &sent, "float").await);
        assert_eq!(again, first);
        if server.metric("nodefusion_serve_cache_hits_total").await > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no answer came from the cache");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let computed = server.metric("nodefusion_serve_texts_total").await;
    let requests = "nodefusion_serve_requests_total{outcome=\"success\"}";
    assert!(computed < server.metric(requests).await);
}

#[tokio::test]
async fn embed_remote_pointed_at_the_server_gives_embeds_vectors() {
    let server = EmbeddingServer::start(&["--instances", "1"]);
    let dir = tempfile::tempdir().unwrap();
    crate::support::parquet_from_sql(
        &dir.path().join("docs.parquet"),
        &format!("SELECT * FROM {}", values(&texts(11, 40, 400))),
    )
    .await;
    let pipeline = format!(
        r#"[input]
path = "docs.parquet"
[output]
path = "compared.parquet"
[providers.nodefusion]
base_url = "{}/v1"
[[nodes]]
name = "local"
function = "embed"
inputs = ["text"]
output = "local"
[[nodes]]
name = "remote"
function = "embed_remote"
inputs = ["text"]
output = "remote"
cache = "off"
params = {{ provider = "nodefusion", model = "{MODEL}", dimensions = 384 }}
[[nodes]]
name = "similarity"
function = "cosine_similarity"
inputs = ["local", "remote"]
output = "similarity"
"#,
        server.url
    );
    std::fs::write(dir.path().join("compare.toml"), pipeline).unwrap();
    let run = nodefusion(dir.path(), &["run", "compare.toml"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let query = "SELECT count(*) AS n, min(similarity) > 0.99999 AS same FROM 'compared.parquet'";
    let read = nodefusion(dir.path(), &["sql", query, "--format", "csv"]);
    assert_eq!(stdout(&read), "n,same\n40,true\n", "{}", stderr(&read));
    assert_eq!(server.metric("nodefusion_serve_texts_total").await, 40.0);
}

/// The openai Python client against the server: `create()` asks for base64 unless told
/// otherwise; the vectors it decodes and the errors it raises.
const OPENAI_CLIENT: &str = r#"
import json, sys
import openai
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", max_retries=0)
texts = json.loads(sys.argv[2])
answer = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
try:
    client.embeddings.create(model="text-embedding-3-small", input="x")
    refused = None
except openai.NotFoundError as error:
    refused = error.body
print(json.dumps({
    "vectors": [item.embedding for item in answer.data],
    "tokens": answer.usage.prompt_tokens,
    "refused": refused,
}))
"#;

#[tokio::test]
async fn the_openai_python_client_gets_embeds_vectors_and_reads_the_errors() {
    // scripts/test.sh installs the client (tests/requirements.txt) and says where.
    let python = std::env::var("NODEFUSION_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_client = std::process::Command::new(&python)
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        has_client,
        "no openai package for {python}: run scripts/test.sh, which installs it"
    );
    let server = EmbeddingServer::start(&["--instances", "1"]);
    let sent = texts(12, 3, 300);
    let url = server.url.clone();
    let arguments = serde_json::to_string(&sent).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(["-c", OPENAI_CLIENT, &url, &arguments])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let vectors = answer["vectors"].as_array().unwrap();
    for (vector, in_sql) in vectors.iter().zip(embed_in_sql(&sent).await) {
        let vector: Vec<f32> = vector
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert!(cosine(&vector, &in_sql) > 0.99999);
    }
    assert!(answer["tokens"].as_u64().unwrap() > 3 * 40);
    assert_eq!(answer["refused"]["code"], "model_not_found");
}
