//! `llm` against a real OpenAI-compatible server on 127.0.0.1 (`nodefusion-llm-server`, a
//! separate process) with rate limits enforced for real: no 429 within known limits, the
//! same answers and token totals at any concurrency, batch size and partition count, 429s
//! settling by themselves when the limits are unknown, failures by kind (a rejected key
//! stops the run, a 400 nulls its row, a 500 is tried again), the key nowhere, and the
//! result cache: a second run sends nothing, a killed run re-run pays only for the rest.

use std::fs::File;
use std::path::Path;

use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use datafusion::parquet::record::Field;

use crate::support::llm_server::{KEY_VARIABLE, LlmServer, command_with_key, nodefusion_with_key};
use crate::support::{files_below, parquet_from_sql, stderr, stdout};

const KEY: &str = "sk-test-5f3a9c1e77d04b2b";

/// Writes `rows` prompts of about `words` words each to `dir/prompts.parquet`.
async fn prompts(dir: &Path, rows: usize, words: usize) {
    let select = format!(
        "SELECT value AS id, 'Question ' || value || ': ' || repeat('why is the river stone ', {}) AS prompt \
         FROM generate_series(1, {rows}) ORDER BY value",
        words / 5
    );
    parquet_from_sql(&dir.join("prompts.parquet"), &select).await;
}

/// A pipeline file answering every prompt with `llm`, with `provider` and `params` lines.
fn pipeline_file(dir: &Path, server: &LlmServer, provider: &str, node: &str) -> String {
    let text = format!(
        r#"[input]
path = "prompts.parquet"
[output]
path = "answers.parquet"
columns = ["id", "answer"]
mode = "overwrite"
[providers.local]
base_url = "{url}"
api_key_env = "{KEY_VARIABLE}"
price_in_per_mtok = 0.15
price_out_per_mtok = 0.6
{provider}
[[nodes]]
name = "answer"
function = "llm"
inputs = ["prompt"]
output = "answer"
{node}
"#,
        url = server.url
    );
    std::fs::write(dir.join("answers.toml"), text).unwrap();
    "answers.toml".to_string()
}

/// `(id, answer)` of the output, read with the parquet crate's record API (a second reader).
fn answers(path: &Path) -> Vec<(i64, Option<String>)> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let mut rows: Vec<(i64, Option<String>)> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            let (mut id, mut answer) = (0, None);
            for (name, value) in row.get_column_iter() {
                match (name.as_str(), value) {
                    ("id", Field::Long(v)) => id = *v,
                    ("answer", Field::Str(v)) => answer = Some(v.clone()),
                    _ => {}
                }
            }
            (id, answer)
        })
        .collect();
    rows.sort();
    rows
}

/// The usage line of node `answer` in a run summary.
fn usage_line(summary: &str) -> String {
    summary
        .lines()
        .find(|line| line.trim_start().starts_with("requests "))
        .unwrap_or_else(|| panic!("no usage line in:\n{summary}"))
        .trim()
        .to_string()
}

#[tokio::test]
async fn within_the_servers_limits_no_call_is_refused_and_usage_matches_the_servers_count() {
    let dir = tempfile::tempdir().unwrap();
    // 40 calls of ~160 tokens against 6000 tokens a minute: the last ones wait for budget.
    prompts(dir.path(), 40, 140).await;
    let server = LlmServer::start(
        &["--rpm", "600", "--tpm", "6000", "--latency-ms", "20"],
        Some(KEY),
    );
    let file = pipeline_file(
        dir.path(),
        &server,
        "rpm = 600\ntpm = 6000\nburst_seconds = 60",
        "max_concurrency = 16\nparams = { provider = \"local\", model = \"gpt-4o-mini\", max_tokens = 8, temperature = 0 }",
    );
    let output = nodefusion_with_key(dir.path(), &["run", &file], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stdout(&output);
    assert_eq!(server.count("rate_limited"), 0, "{summary}");
    assert_eq!(server.count("served"), 40);
    let (prompt_tokens, completion_tokens) = (
        server.count("prompt_tokens"),
        server.count("completion_tokens"),
    );
    let usage = usage_line(&summary);
    assert!(
        usage.starts_with(&format!(
            "requests 40, cache hits 0, tokens {prompt_tokens} in / {completion_tokens} out, 429s 0, throttled"
        )),
        "{usage}"
    );
    let cost = (prompt_tokens as f64 * 0.15 + completion_tokens as f64 * 0.6) / 1e6;
    assert!(
        usage.ends_with(&format!("cost ${cost:.6}")),
        "{usage} vs {cost}"
    );
    let rows = answers(&dir.path().join("answers.parquet"));
    assert_eq!(rows.len(), 40);
    assert!(
        rows.iter()
            .all(|(_, answer)| answer.as_deref().is_some_and(|a| !a.is_empty()))
    );
    // The key is in no output and no file.
    for text in [summary, stderr(&output)] {
        assert!(!text.contains(KEY), "{text}");
    }
    for file in files_below(dir.path()) {
        let bytes = std::fs::read(dir.path().join(&file)).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{}",
            file.display()
        );
    }
    let explain = nodefusion_with_key(dir.path(), &["explain", &file], KEY);
    assert!(explain.status.success(), "{}", stderr(&explain));
    assert!(!stdout(&explain).contains(KEY));
    // Run again: every answer comes from the cache, nothing is sent, the output is the same.
    let again = nodefusion_with_key(dir.path(), &["run", &file], KEY);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(server.count("requests"), 40);
    let usage = usage_line(&stdout(&again));
    assert!(
        usage.starts_with("requests 0, cache hits 40, tokens 0 in / 0 out"),
        "{usage}"
    );
    assert_eq!(answers(&dir.path().join("answers.parquet")), rows);
}

#[tokio::test]
async fn a_killed_run_run_again_pays_only_for_the_calls_it_had_not_finished() {
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), 80, 5).await;
    let server = LlmServer::start(&["--latency-ms", "100", "--latency-sigma", "0"], Some(KEY));
    let file = pipeline_file(
        dir.path(),
        &server,
        "",
        "max_concurrency = 4\nparams = { provider = \"local\", model = \"m\", max_tokens = 6, temperature = 0 }",
    );
    let mut first = command_with_key(dir.path(), &["run", &file], KEY)
        .spawn()
        .unwrap();
    while server.count("served") < 20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let paid_before = server.count("served");
    assert!(paid_before < 80, "the first run finished before the kill");
    assert!(!dir.path().join("answers.parquet").exists());
    let again = nodefusion_with_key(dir.path(), &["run", &file], KEY);
    assert!(again.status.success(), "{}", stderr(&again));
    let usage = usage_line(&stdout(&again));
    let hits: u64 = usage
        .split("cache hits ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Every answer the first run received is kept; at most the calls in flight at the kill
    // (4) were paid for and lost. At 4 in flight and 100 ms a call, the 80 calls take 2 s:
    // the kill after 20 comes well before the end.
    assert!(
        hits + 4 >= paid_before,
        "{hits} hits after {paid_before} paid calls: {usage}"
    );
    assert!(
        server.count("served") <= 80 + 4,
        "{}",
        server.count("served")
    );
    assert_eq!(answers(&dir.path().join("answers.parquet")).len(), 80);
}

#[tokio::test]
async fn identical_prompts_in_one_job_are_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    parquet_from_sql(
        &dir.path().join("prompts.parquet"),
        "SELECT value AS id, 'the same question ' || (value % 3) AS prompt FROM generate_series(1, 30) ORDER BY value",
    )
    .await;
    let server = LlmServer::start(&["--latency-ms", "20"], Some(KEY));
    let file = pipeline_file(
        dir.path(),
        &server,
        "",
        "max_concurrency = 8\nparams = { provider = \"local\", model = \"m\", max_tokens = 6, temperature = 0 }",
    );
    let output = nodefusion_with_key(dir.path(), &["run", &file], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(server.count("requests"), 3, "{}", stdout(&output));
    let rows = answers(&dir.path().join("answers.parquet"));
    assert_eq!(rows.len(), 30);
    assert_eq!(rows[0].1, rows[3].1);
    // At a temperature above 0 (no seed) the calls are not deterministic: each is sent.
    let hot = nodefusion_with_key(
        dir.path(),
        &["run", &file, "--set", "nodes.answer.params.temperature=0.7"],
        KEY,
    );
    assert!(hot.status.success(), "{}", stderr(&hot));
    assert_eq!(server.count("requests"), 33);
}

#[tokio::test]
async fn answers_and_token_totals_do_not_depend_on_concurrency_batch_size_or_partitions() {
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), 60, 10).await;
    let server = LlmServer::start(&["--latency-ms", "2"], Some(KEY));
    let file = pipeline_file(
        dir.path(),
        &server,
        "",
        "cache = \"off\"\nparams = { provider = \"local\", model = \"m\", max_tokens = 12, temperature = 0 }",
    );
    let mut runs = Vec::new();
    for (concurrency, batch, partitions) in [("1", "7", "1"), ("64", "100", "3")] {
        let output = nodefusion_with_key(
            dir.path(),
            &[
                "run",
                &file,
                "--set",
                &format!("nodes.answer.max_concurrency={concurrency}"),
                "--set",
                &format!("nodes.answer.batch_size={batch}"),
                "--set",
                &format!("defaults.partitions={partitions}"),
            ],
            KEY,
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let usage = usage_line(&stdout(&output));
        let tokens = usage.split(", 429s").next().unwrap().to_string();
        runs.push((answers(&dir.path().join("answers.parquet")), tokens));
    }
    assert_eq!(runs[0].0.len(), 60);
    assert_eq!(runs[0], runs[1]);
    assert!(
        server.count("most_in_flight") > 1,
        "the second run had calls in flight together"
    );
}

#[tokio::test]
async fn with_the_limits_unknown_429s_settle_below_two_percent_after_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    // 40 requests a second, a second's worth of burst, no headers saying so.
    prompts(dir.path(), 440, 5).await;
    let server = LlmServer::start(
        &[
            "--rpm",
            "2400",
            "--burst-seconds",
            "1",
            "--no-limit-headers",
            "--latency-ms",
            "100",
        ],
        Some(KEY),
    );
    let file = pipeline_file(
        dir.path(),
        &server,
        "",
        "max_concurrency = 64\nparams = { provider = \"local\", model = \"m\", max_tokens = 4, temperature = 0 }",
    );
    let output = nodefusion_with_key(dir.path(), &["run", &file], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    let timeline: Vec<(u64, u64)> = server.stats()["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|second| (second[0].as_u64().unwrap(), second[1].as_u64().unwrap()))
        .collect();
    let first_refusal = timeline
        .iter()
        .position(|(_, limited)| *limited > 0)
        .unwrap();
    let settled = &timeline[(first_refusal + 3).min(timeline.len())..];
    let (served, limited) = settled.iter().fold((0, 0), |(s, l), (served, limited)| {
        (s + served, l + limited)
    });
    assert!(
        served >= 150,
        "too few calls after warm-up to judge: {timeline:?}"
    );
    assert!(
        (limited as f64) < 0.02 * (served + limited) as f64,
        "{limited} 429s for {served} answers after warm-up: {timeline:?}"
    );
    assert_eq!(answers(&dir.path().join("answers.parquet")).len(), 440);
}

#[tokio::test]
async fn a_rejected_key_stops_the_run_naming_the_provider_and_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), 5, 5).await;
    let server = LlmServer::start(&[], Some(KEY));
    let file = pipeline_file(
        dir.path(),
        &server,
        "",
        "on_error = \"null\"\nparams = { provider = \"local\", model = \"m\" }",
    );
    let wrong = "sk-wrong-0123456789abcdef";
    let output = nodefusion_with_key(dir.path(), &["run", &file], wrong);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "provider 'local' refused the API key from {KEY_VARIABLE} (HTTP 401)"
        )),
        "{message}"
    );
    assert!(!message.contains(wrong) && !stdout(&output).contains(wrong));
    assert!(!dir.path().join("answers.parquet").exists());
    // Without the variable set at all, nothing is sent.
    let unset = std::process::Command::new(env!("CARGO_BIN_EXE_nodefusion"))
        .args(["run", &file])
        .current_dir(dir.path())
        .env_remove(KEY_VARIABLE)
        .output()
        .unwrap();
    assert!(!unset.status.success());
    assert!(
        stderr(&unset).contains(&format!("the API key variable {KEY_VARIABLE} is not set")),
        "{}",
        stderr(&unset)
    );
}

#[tokio::test]
async fn a_prompt_beyond_the_context_window_gets_a_null_and_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    parquet_from_sql(
        &dir.path().join("prompts.parquet"),
        "SELECT value AS id, CASE WHEN value = 3 THEN repeat('far too long ', 200) ELSE 'short ' || value END AS prompt \
         FROM generate_series(1, 5) ORDER BY value",
    )
    .await;
    let server = LlmServer::start(
        &["--context-tokens", "300", "--error-rate", "0.3"],
        Some(KEY),
    );
    let file = pipeline_file(
        dir.path(),
        &server,
        "",
        "on_error = \"null\"\nmax_retries = 10\nparams = { provider = \"local\", model = \"m\", max_tokens = 8 }",
    );
    let output = nodefusion_with_key(dir.path(), &["run", &file], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = answers(&dir.path().join("answers.parquet"));
    let nulls: Vec<i64> = rows
        .iter()
        .filter(|(_, a)| a.is_none())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(nulls, [3], "{rows:?}");
    assert_eq!(server.count("bad_requests"), 1, "the 400 was sent once");
    assert!(
        stdout(&output).contains(
            "failed rows 1 (first failed on input row 2: provider 'local': HTTP 400: This model's maximum context length is 300 tokens"
        ),
        "{}",
        stdout(&output)
    );
    if server.count("server_errors") > 0 {
        assert!(stdout(&output).contains("retries"), "500s are tried again");
    }
    // Failing instead names the node, the row and the server's reason.
    let failing = nodefusion_with_key(
        dir.path(),
        &["run", &file, "--set", "nodes.answer.on_error=\"fail\""],
        KEY,
    );
    assert!(!failing.status.success());
    let message = stderr(&failing);
    assert!(
        message.contains("answer") && message.contains("row 2"),
        "{message}"
    );
    assert!(
        message.contains("maximum context length is 300 tokens"),
        "{message}"
    );
}

#[tokio::test]
async fn a_json_schema_answer_parses_or_its_row_fails() {
    let dir = tempfile::tempdir().unwrap();
    parquet_from_sql(
        &dir.path().join("prompts.parquet"),
        "SELECT value AS id, CASE WHEN value = 2 THEN 'tell me [malformed-json]' ELSE 'tell me ' || value END AS prompt \
         FROM generate_series(1, 4) ORDER BY value",
    )
    .await;
    let server = LlmServer::start(&[], Some(KEY));
    let schema = r#"{\"type\": \"object\", \"properties\": {\"label\": {\"type\": \"string\", \"enum\": [\"yes\", \"no\"]}, \"score\": {\"type\": \"integer\"}}}"#;
    let file = pipeline_file(
        dir.path(),
        &server,
        "",
        &format!(
            "on_error = \"null\"\nparams = {{ provider = \"local\", model = \"m\", response_format = \"{schema}\" }}"
        ),
    );
    let output = nodefusion_with_key(dir.path(), &["run", &file], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = answers(&dir.path().join("answers.parquet"));
    for (id, answer) in &rows {
        if *id == 2 {
            assert_eq!(answer, &None);
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(answer.as_deref().unwrap()).unwrap();
        assert!(
            ["yes", "no"].contains(&value["label"].as_str().unwrap()),
            "{value}"
        );
        assert!(value["score"].is_u64(), "{value}");
    }
}

#[test]
fn sql_sessions_declare_providers_with_set() {
    let dir = tempfile::tempdir().unwrap();
    let server = LlmServer::start(&[], Some(KEY));
    let sql = format!(
        "SET nodefusion.provider.local.base_url = '{}'; \
         SET nodefusion.provider.local.api_key_env = '{KEY_VARIABLE}'; \
         SET nodefusion.provider.local.model = 'm'; \
         SELECT llm('Say hi', NULL, 'local', NULL, 0, 5) IS NOT NULL AS answered, \
                llm(NULL, NULL, 'local') IS NULL AS skipped",
        server.url
    );
    let output = nodefusion_with_key(dir.path(), &["sql", &sql, "--format", "csv"], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("true,true"), "{}", stdout(&output));
    let misspelt = nodefusion_with_key(
        dir.path(),
        &["sql", "SET nodefusion.provider.local.rpn = 5"],
        KEY,
    );
    assert!(!misspelt.status.success());
    assert!(
        stderr(&misspelt).contains("unknown provider key 'rpn' (did you mean 'rpm'?)"),
        "{}",
        stderr(&misspelt)
    );
}

#[tokio::test]
async fn embed_remote_sends_many_texts_per_request_within_the_token_limit() {
    let dir = tempfile::tempdir().unwrap();
    parquet_from_sql(
        &dir.path().join("prompts.parquet"),
        "SELECT value AS id, CASE WHEN value = 5 THEN NULL WHEN value = 6 THEN '' \
         ELSE 'text number ' || (value % 40) END AS prompt FROM generate_series(1, 100) ORDER BY value",
    )
    .await;
    let server = LlmServer::start(&["--latency-ms", "5"], Some(KEY));
    let text = format!(
        r#"[input]
path = "prompts.parquet"
[output]
path = "vectors.parquet"
[providers.local]
base_url = "{}"
api_key_env = "{KEY_VARIABLE}"
max_batch_tokens = 40
[[nodes]]
name = "vector"
function = "embed_remote"
inputs = ["prompt"]
output = "vector"
batch_size = 50
cache = "off"
params = {{ provider = "local", model = "m", dimensions = 8 }}
[[nodes]]
name = "norm"
function = "vector_norm"
inputs = ["vector"]
output = "norm"
"#,
        server.url
    );
    std::fs::write(dir.path().join("vectors.toml"), text).unwrap();
    let output = nodefusion_with_key(dir.path(), &["run", "vectors.toml"], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    // Two batches of 50 rows, each with 40 distinct texts (null and empty ones are not
    // sent) of 3 tokens, sent in requests of at most 40 tokens: 13 texts each, 4 requests.
    assert_eq!(server.count("embedding_inputs"), 80, "{}", stdout(&output));
    assert_eq!(server.count("requests"), 8);
    let sql = "SELECT id, round(norm, 4) AS norm FROM 'vectors.parquet' WHERE id IN (1, 5, 6, 41) ORDER BY id";
    let read = nodefusion_with_key(dir.path(), &["sql", sql, "--format", "csv"], KEY);
    assert_eq!(
        stdout(&read),
        "id,norm\n1,1.0\n5,\n6,\n41,1.0\n",
        "{}",
        stderr(&read)
    );
}

#[tokio::test]
async fn a_spent_budget_stops_the_calls_and_nulls_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), 20, 20).await;
    let server = LlmServer::start(&[], Some(KEY));
    // ~35 tokens a call at 0.15 / 0.6 USD per million: about $6e-6 a call.
    let file = pipeline_file(
        dir.path(),
        &server,
        "",
        "max_concurrency = 1\non_error = \"null\"\nbudget_usd = 0.00002\nparams = { provider = \"local\", model = \"m\", max_tokens = 4, temperature = 0 }",
    );
    let output = nodefusion_with_key(dir.path(), &["run", &file], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    let sent = server.count("served") as usize;
    assert!((2..20).contains(&sent), "{sent} calls: {}", stdout(&output));
    let rows = answers(&dir.path().join("answers.parquet"));
    let answered = rows.iter().filter(|(_, answer)| answer.is_some()).count();
    assert_eq!(answered, sent);
    assert!(
        stdout(&output).contains(&format!("failed rows {}", 20 - sent)),
        "{}",
        stdout(&output)
    );
    // Failing instead says which budget was spent.
    let failing = nodefusion_with_key(
        dir.path(),
        &[
            "run",
            &file,
            "--set",
            "nodes.answer.on_error=\"fail\"",
            "--set",
            "nodes.answer.cache=\"off\"",
            "--set",
            "nodes.answer.max_tokens_total=100",
        ],
        KEY,
    );
    assert!(!failing.status.success());
    assert!(
        stderr(&failing).contains("max_tokens_total = 100 is spent"),
        "{}",
        stderr(&failing)
    );
}
