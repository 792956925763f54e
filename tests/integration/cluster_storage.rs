//! A cluster whose executors write the output themselves: a pipeline over input files in a
//! bucket of a real S3-compatible server (moto's), run by a scheduler and executors as
//! separate processes, its output a directory in the bucket. Each executor writes its
//! parts into the output's staging prefix; the client commits. The output must hold the
//! rows of a local run, in input order, for any batch size; an executor killed mid-job
//! or after writing a part costs a re-run of its parts, never a row twice or missing; an
//! interrupted client stops its job.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::cluster::Cluster;
use crate::support::s3::{Bucket, S3Server};
use crate::support::{docs_file, parquet_rows, service, stderr, stdout};

/// Input files of the job, uploaded to `in/` of `bucket`: three of `rows` rows.
async fn upload_inputs(bucket: &Bucket, dir: &Path, rows: usize) {
    for (index, seed) in [11, 12, 13].into_iter().enumerate() {
        let file = docs_file(dir, &format!("input-{index}.parquet"), rows, seed);
        bucket
            .upload(&file, &format!("in/part-{index}.parquet"))
            .await;
    }
}

/// A pipeline file from `in/` of `bucket` with text nodes, and an HTTP node calling `base`
/// (each call `delay_ms` long) when given, into the directory `out/` of the bucket.
fn pipeline(dir: &Path, bucket: &Bucket, batch_size: usize, http: Option<(&str, u64)>) {
    let http_nodes = match http {
        Some((base, delay_ms)) => format!(
            r#"
[[nodes]]
name = "url"
sql = "concat('{base}/delay/{delay_ms}/', CAST(id AS VARCHAR), '-', CAST(words AS VARCHAR))"
[[nodes]]
name = "fetched"
function = "http_get"
inputs = ["url"]
max_concurrency = 2
"#
        ),
        None => String::new(),
    };
    let text = format!(
        r#"
name = "cluster_storage"
[input]
path = "{input}"
[output]
path = "{output}"
mode = "overwrite"
[defaults]
partitions = 3
batch_size = {batch_size}
[[nodes]]
name = "clean"
function = "normalize_text"
inputs = ["text"]
[[nodes]]
name = "words"
function = "word_count"
inputs = ["clean"]
{http_nodes}"#,
        input = bucket.url("in/"),
        output = bucket.url("out/"),
    );
    std::fs::write(dir.join("job.toml"), text).unwrap();
}

/// `nodefusion run job.toml [ARGS]` against `bucket`'s server, as a child process.
fn start(bucket: &Bucket, dir: &Path, args: &[&str]) -> Child {
    bucket
        .command(dir, &["run", "job.toml"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` without blocking the runtime (the HTTP service runs on it).
async fn finish(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// The job's rows run here, into a local file, in input order.
async fn local_rows(bucket: &Bucket, dir: &Path) -> Vec<String> {
    let local = finish(start(
        bucket,
        dir,
        &["--output", "local.parquet", "--quiet"],
    ))
    .await;
    assert!(local.status.success(), "{}", stderr(&local));
    parquet_rows(&dir.join("local.parquet"))
}

/// The rows of the output's part files in the bucket, in the order of their names (the
/// order of the parts).
async fn output_rows(bucket: &Bucket, dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for key in bucket.keys().await {
        if key.starts_with("out/part-") {
            rows.extend(parquet_rows(&bucket.download(&key, dir).await));
        }
    }
    rows
}

/// Whether the bucket holds anything but the input and the output.
async fn leftovers(bucket: &Bucket) -> Vec<String> {
    let keys = bucket.keys().await;
    keys.into_iter()
        .filter(|key| !key.starts_with("in/") && !key.starts_with("out/"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executors_write_the_output_in_input_order_with_each_node_s_figures() {
    let bucket = S3Server::shared().bucket("cluster-writes");
    let dir = tempfile::tempdir().unwrap();
    upload_inputs(&bucket, dir.path(), 40).await;
    let cluster = Cluster::start_with(dir.path(), 2, 1, bucket.environment());
    for batch_size in [5, 512] {
        pipeline(dir.path(), &bucket, batch_size, None);
        let expected = local_rows(&bucket, dir.path()).await;
        assert_eq!(expected.len(), 120);
        let run = finish(start(&bucket, dir.path(), &["--cluster", &cluster.url])).await;
        assert!(run.status.success(), "{}\n{}", stderr(&run), cluster.logs());
        let summary = stdout(&run);
        assert!(summary.contains("120 rows out"), "{summary}");
        assert!(
            summary.contains("its executors wrote the output"),
            "{summary}"
        );
        for node in ["clean", "words"] {
            let line = summary
                .lines()
                .find(|line| line.trim_start().starts_with(node))
                .unwrap_or_else(|| panic!("no figures of {node}: {summary}"));
            assert!(line.contains(" 120 "), "{line}");
        }
        assert_eq!(
            output_rows(&bucket, dir.path()).await,
            expected,
            "batch_size {batch_size}"
        );
        assert!(bucket.keys().await.contains(&"out/_SUCCESS".to_string()));
        assert_eq!(leftovers(&bucket).await, Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_mid_job_or_after_writing_a_part_costs_a_rerun_not_a_row() {
    let bucket = S3Server::shared().bucket("cluster-kills");
    let dir = tempfile::tempdir().unwrap();
    upload_inputs(&bucket, dir.path(), 12).await;
    let (base, log) = service::start().await;
    pipeline(dir.path(), &bucket, 4, Some((&base, 100)));
    let expected = local_rows(&bucket, dir.path()).await;
    for kill_after_a_part in [false, true] {
        let calls = log.requests();
        let mut cluster = Cluster::start_with(dir.path(), 1, 1, bucket.environment());
        let run = start(&bucket, dir.path(), &["--cluster", &cluster.url]);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let written = bucket.keys().await.iter().any(|key| key.contains("/part-"));
            let calling = log.requests() >= calls + 4;
            if (kill_after_a_part && written) || (!kill_after_a_part && calling) {
                break;
            }
            assert!(Instant::now() < deadline, "the job never got going");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cluster.add_executor();
        cluster.kill_executor(0);
        let run = finish(run).await;
        assert!(run.status.success(), "{}\n{}", stderr(&run), cluster.logs());
        assert_eq!(output_rows(&bucket, dir.path()).await, expected);
        assert_eq!(leftovers(&bucket).await, Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_client_stops_its_job_and_leaves_nothing() {
    let bucket = S3Server::shared().bucket("cluster-interrupt");
    let dir = tempfile::tempdir().unwrap();
    upload_inputs(&bucket, dir.path(), 30).await;
    let (base, log) = service::start().await;
    pipeline(dir.path(), &bucket, 2, Some((&base, 100)));
    let cluster = Cluster::start_with(dir.path(), 2, 1, bucket.environment());
    let run = start(&bucket, dir.path(), &["--cluster", &cluster.url]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while log.requests() < 6 {
        assert!(Instant::now() < deadline, "the job made no calls");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Ctrl-C, by the shell's own `kill`.
    let signalled = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", run.id())])
        .status()
        .unwrap();
    assert!(signalled.success());
    let ended = finish(run).await;
    assert!(!ended.status.success());
    assert!(stderr(&ended).contains("interrupted"), "{}", stderr(&ended));
    // The job stops within the tasks' look at the client's lease (a second): after that
    // no call (the job's 90 rows would take 4.5 s more at two calls at a time).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = log.requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        log.requests() == calls,
        "{} calls after the interrupt\n{}\n{}",
        log.requests() - calls,
        stderr(&ended),
        cluster.logs()
    );
    assert_eq!(leftovers(&bucket).await, Vec::<String>::new());
    assert!(
        bucket
            .keys()
            .await
            .iter()
            .all(|key| !key.starts_with("out/")),
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_client_cancels_a_job_that_streams_rows_back() {
    let bucket = S3Server::shared().bucket("cluster-cancel");
    let dir = tempfile::tempdir().unwrap();
    upload_inputs(&bucket, dir.path(), 30).await;
    let (base, log) = service::start().await;
    pipeline(dir.path(), &bucket, 2, Some((&base, 100)));
    // One executor of one slot: three parts of 30 calls, a task (of one or more parts) at a
    // time.
    let cluster = Cluster::start_with(dir.path(), 1, 1, bucket.environment());
    let run = start(
        &bucket,
        dir.path(),
        &["--cluster", &cluster.url, "--output", "local.parquet"],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while log.requests() < 6 {
        assert!(Instant::now() < deadline, "the job made no calls");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", run.id())])
        .status()
        .unwrap();
    assert!(signalled.success());
    let ended = finish(run).await;
    assert!(!ended.status.success());
    // The tasks the executor holds run to their end (Ballista's executor does not stop a
    // running task's partitions, nor one it has queued), then nothing: the job was
    // cancelled, no other task starts.
    let mut calls = log.requests();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if log.requests() == calls {
            break;
        }
        calls = log.requests();
    }
    assert!(
        calls < 90,
        "{calls} calls: the whole job ran\n{}\n{}",
        stderr(&ended),
        cluster.logs()
    );
    assert!(!dir.path().join("local.parquet").exists());
}
