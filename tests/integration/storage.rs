//! Object storage, for real: a pipeline's inputs and outputs, SQL's `FROM` and `COPY`, the
//! output modes and the commit, against an S3-compatible server (moto's) in a separate
//! process, reached as a user reaches S3: the `AWS_*` variables. Every output is read back
//! from the bucket with the parquet crate's record reader and compared with the same
//! pipeline's output written to a local file.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use crate::support::s3::{Bucket, S3Server};
use crate::support::{docs_file, nodefusion, parquet_rows, service, stderr, stdout};

/// A pipeline file of two text nodes from `input` to `output`, with `extra` lines in its
/// `[output]` section.
fn pipeline(dir: &Path, name: &str, input: &str, output: &str, extra: &str) -> String {
    let text = format!(
        r#"
[input]
path = "{input}"
[output]
path = "{output}"
columns = ["id", "category", "clean", "words"]
{extra}
[defaults]
batch_size = 64
[[nodes]]
name = "clean"
function = "normalize_text"
inputs = ["text"]
[[nodes]]
name = "words"
function = "word_count"
inputs = ["clean"]
"#
    );
    let file = format!("{name}.toml");
    std::fs::write(dir.join(&file), text).unwrap();
    file
}

/// The rows of the same pipeline over `input` written to a local file, as text.
fn local_rows(dir: &Path, input: &str) -> Vec<String> {
    let file = pipeline(dir, "local", input, "local.parquet", "mode = \"overwrite\"");
    let output = nodefusion(dir, &["run", &file, "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    parquet_rows(&dir.join("local.parquet"))
}

/// Every row of the Parquet files under `prefix` in `bucket` (`_SUCCESS` aside), in key
/// order, read back from the bucket.
async fn bucket_rows(bucket: &Bucket, prefix: &str, dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for key in bucket.keys().await {
        if key.starts_with(prefix) && key.ends_with(".parquet") {
            rows.extend(parquet_rows(&bucket.download(&key, dir).await));
        }
    }
    rows
}

/// Sorted, for outputs of several files whose order is not the input's.
fn sorted(mut rows: Vec<String>) -> Vec<String> {
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_output_goes_to_the_bucket_and_nothing_is_written_locally() {
    let bucket = S3Server::shared().bucket("output-dir");
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 300, 1);
    let file = pipeline(dir.path(), "p", "docs.parquet", &bucket.url("out/"), "");
    let output = bucket.nodefusion(dir.path(), &["run", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!("wrote {}", bucket.url("out/"))),
        "{}",
        stdout(&output)
    );
    assert!(
        !dir.path().join("s3:").exists(),
        "a local directory named s3:"
    );
    let keys = bucket.keys().await;
    assert!(keys.contains(&"out/_SUCCESS".to_string()), "{keys:?}");
    assert!(
        keys.iter().all(|key| key.starts_with("out/")),
        "nothing but the output is left in the bucket: {keys:?}"
    );
    let expected = local_rows(dir.path(), "docs.parquet");
    assert_eq!(expected.len(), 300);
    // A directory's rows are spread over several files, one per partition.
    assert_eq!(
        sorted(bucket_rows(&bucket, "out/", dir.path()).await),
        sorted(expected)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inputs_are_read_from_an_object_a_prefix_and_a_glob_in_each_format() {
    let bucket = S3Server::shared().bucket("inputs");
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(dir.path(), "docs.parquet", 120, 2);
    let expected = local_rows(dir.path(), "docs.parquet");
    for format in ["csv", "json"] {
        let converted = format!("docs.{format}");
        let copy = format!("COPY (SELECT * FROM 'docs.parquet') TO '{converted}'");
        let output = nodefusion(dir.path(), &["sql", &copy]);
        assert!(output.status.success(), "{}", stderr(&output));
        bucket
            .upload(&dir.path().join(&converted), &format!("one/{converted}"))
            .await;
    }
    bucket.upload(&docs, "one/docs.parquet").await;
    // The same rows cut into three files under a prefix.
    for (part, range) in [(0, "id < 40"), (1, "id >= 40 AND id < 80"), (2, "id >= 80")] {
        let local = dir.path().join(format!("part-{part}.parquet"));
        let copy = format!(
            "COPY (SELECT * FROM 'docs.parquet' WHERE {range} ORDER BY id) TO '{}'",
            local.display()
        );
        assert!(nodefusion(dir.path(), &["sql", &copy]).status.success());
        bucket
            .upload(&local, &format!("parts/part-{part}.parquet"))
            .await;
    }
    bucket.upload(&docs, "parts/notes.txt").await;
    for (name, input) in [
        ("object", bucket.url("one/docs.parquet")),
        ("csv", bucket.url("one/docs.csv")),
        ("json", bucket.url("one/docs.json")),
        ("prefix", bucket.url("parts/")),
        ("glob", bucket.url("parts/part-*.parquet")),
    ] {
        let target = format!("from-{name}.parquet");
        let file = pipeline(dir.path(), name, &input, &target, "");
        let output = bucket.nodefusion(dir.path(), &["run", &file, "--quiet"]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let rows = parquet_rows(&dir.path().join(&target));
        match name {
            // CSV and JSON carry no types: compare the row count and the words computed.
            "csv" | "json" => assert_eq!(rows.len(), expected.len(), "{name}"),
            _ => assert_eq!(sorted(rows), sorted(expected.clone()), "{name}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_file_and_a_partitioned_output_in_the_bucket() {
    let bucket = S3Server::shared().bucket("single-partitioned");
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 200, 3);
    let expected = local_rows(dir.path(), "docs.parquet");
    let file = pipeline(
        dir.path(),
        "one",
        "docs.parquet",
        &bucket.url("one.parquet"),
        "",
    );
    let output = bucket.nodefusion(dir.path(), &["run", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(bucket.keys().await, vec!["one.parquet".to_string()]);
    assert_eq!(bucket_rows(&bucket, "one", dir.path()).await, expected);

    let file = pipeline(
        dir.path(),
        "parts",
        "docs.parquet",
        &bucket.url("by-category"),
        "partition_by = [\"category\"]",
    );
    let output = bucket.nodefusion(dir.path(), &["run", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
    let keys = bucket.keys().await;
    let partitions: Vec<_> = keys
        .iter()
        .filter(|key| key.starts_with("by-category/category="))
        .collect();
    assert!(partitions.len() >= 2, "{keys:?}");
    assert!(keys.contains(&"by-category/_SUCCESS".to_string()));
    // The partition column lives in the directory names: every other value comes back.
    let read_back = bucket_rows(&bucket, "by-category/", dir.path()).await;
    assert_eq!(read_back.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_reads_urls_and_globs_and_copies_into_the_bucket() {
    let bucket = S3Server::shared().bucket("sql");
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(dir.path(), "docs.parquet", 90, 4);
    bucket.upload(&docs, "in/a.parquet").await;
    bucket.upload(&docs, "in/b.parquet").await;
    let count = format!(
        "SELECT count(*) AS n, sum(word_count(text)) AS words FROM '{}'",
        bucket.url("in/*.parquet")
    );
    let output = bucket.nodefusion(dir.path(), &["sql", &count, "--format", "csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let local = nodefusion(
        dir.path(),
        &[
            "sql",
            "SELECT 2 * count(*) AS n, 2 * sum(word_count(text)) AS words FROM 'docs.parquet'",
            "--format",
            "csv",
        ],
    );
    assert_eq!(stdout(&output), stdout(&local));

    let copy = format!(
        "COPY (SELECT id, normalize_text(text) AS clean FROM '{}' ORDER BY id) TO '{}'",
        bucket.url("in/a.parquet"),
        bucket.url("copied/clean.parquet")
    );
    let output = bucket.nodefusion(dir.path(), &["sql", &copy]);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = nodefusion(
        dir.path(),
        &[
            "sql",
            "COPY (SELECT id, normalize_text(text) AS clean FROM 'docs.parquet' ORDER BY id) TO 'clean.parquet'",
        ],
    );
    assert!(expected.status.success());
    assert_eq!(
        bucket_rows(&bucket, "copied/", dir.path()).await,
        parquet_rows(&dir.path().join("clean.parquet"))
    );
    let select = format!(
        "SELECT id FROM '{}' ORDER BY id",
        bucket.url("in/a.parquet")
    );
    let result = bucket.url("result.parquet");
    let output = bucket.nodefusion(
        dir.path(),
        &["sql", &select, "--format", "parquet", "--output", &result],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(bucket_rows(&bucket, "result", dir.path()).await.len(), 90);
    let keys = bucket.keys().await;
    assert!(
        keys.iter().all(|key| key.starts_with("in/")
            || key == "copied/clean.parquet"
            || key == "result.parquet"),
        "{keys:?}"
    );
    let csv = bucket.nodefusion(
        dir.path(),
        &["sql", &select, "--format", "csv", "--output", &result],
    );
    assert!(
        stderr(&csv).contains("only --format parquet writes to an object store"),
        "{}",
        stderr(&csv)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_modes_refuse_replace_and_add_in_the_bucket() {
    let bucket = S3Server::shared().bucket("modes");
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 50, 5);
    let target = bucket.url("out/");
    let file = pipeline(dir.path(), "first", "docs.parquet", &target, "");
    assert!(
        bucket
            .nodefusion(dir.path(), &["run", &file])
            .status
            .success()
    );
    let first = bucket.keys().await;

    let refused = bucket.nodefusion(dir.path(), &["run", &file]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("already exists"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(bucket.keys().await, first, "a refused run changes nothing");

    let file = pipeline(
        dir.path(),
        "more",
        "docs.parquet",
        &target,
        "mode = \"append\"",
    );
    assert!(
        bucket
            .nodefusion(dir.path(), &["run", &file])
            .status
            .success()
    );
    assert_eq!(bucket_rows(&bucket, "out/", dir.path()).await.len(), 100);

    let file = pipeline(
        dir.path(),
        "again",
        "docs.parquet",
        &target,
        "mode = \"overwrite\"",
    );
    let output = bucket.nodefusion(dir.path(), &["run", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
    let keys = bucket.keys().await;
    assert_eq!(keys.len(), 2, "one file and the marker: {keys:?}");
    assert!(
        first
            .iter()
            .all(|key| key == "out/_SUCCESS" || !keys.contains(key))
    );
    assert_eq!(
        sorted(bucket_rows(&bucket, "out/", dir.path()).await),
        sorted(local_rows(dir.path(), "docs.parquet"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn store_errors_name_the_url_and_what_is_wrong() {
    let bucket = S3Server::shared().bucket("errors");
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 10, 6);
    let cases = [
        (
            "no-bucket-out",
            "docs.parquet".to_string(),
            "s3://no-such-bucket-here/out/".to_string(),
            "s3://no-such-bucket-here/out: no such bucket",
        ),
        (
            "no-bucket-in",
            "s3://no-such-bucket-here/in/".to_string(),
            "out.parquet".to_string(),
            "input 's3://no-such-bucket-here/in/': no such bucket",
        ),
        (
            "no-key",
            bucket.url("missing.parquet"),
            "out.parquet".to_string(),
            "no parquet file there",
        ),
    ];
    for (name, input, output, expected) in cases {
        let file = pipeline(dir.path(), name, &input, &output, "");
        let run = bucket.nodefusion(dir.path(), &["run", &file]);
        assert!(!run.status.success(), "{name}");
        assert!(stderr(&run).contains(expected), "{name}: {}", stderr(&run));
    }
    let sql = format!("SELECT * FROM '{}'", bucket.url("missing.parquet"));
    let run = bucket.nodefusion(dir.path(), &["sql", &sql]);
    assert!(
        stderr(&run).contains(&format!("input '{}'", bucket.url("missing.parquet"))),
        "{}",
        stderr(&run)
    );

    let strict = S3Server::start(true);
    let file = pipeline(dir.path(), "denied", "docs.parquet", "s3://any/out/", "");
    let run = bucket
        .command(dir.path(), &["run", &file])
        .env("AWS_ENDPOINT", &strict.endpoint)
        .output()
        .unwrap();
    assert!(
        stderr(&run).contains("s3://any/out: access denied")
            && stderr(&run).contains("AWS_ACCESS_KEY_ID"),
        "{}",
        stderr(&run)
    );
    assert!(!stderr(&run).contains("nodefusion-test-secret"));

    // A port nothing listens on: a few quick tries, then an error that says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = bucket
        .command(dir.path(), &["run", &file])
        .env("AWS_ENDPOINT", &unreachable)
        .output()
        .unwrap();
    assert!(
        stderr(&run).contains("cannot reach the store's endpoint"),
        "{}",
        stderr(&run)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_leaves_the_previous_output_and_nothing_beside_it() {
    let bucket = S3Server::shared().bucket("failed");
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 400, 7);
    let target = bucket.url("out/");
    let file = pipeline(dir.path(), "good", "docs.parquet", &target, "");
    assert!(
        bucket
            .nodefusion(dir.path(), &["run", &file])
            .status
            .success()
    );
    let before = bucket.keys().await;
    // A node that fails on a row late in the input.
    let failing = format!(
        r#"
[input]
path = "docs.parquet"
[output]
path = "{target}"
mode = "overwrite"
[defaults]
batch_size = 16
[[nodes]]
name = "late_failure"
sql = "CASE WHEN id > 300 THEN CAST(text AS INT) ELSE 0 END"
"#
    );
    std::fs::write(dir.path().join("failing.toml"), failing).unwrap();
    let run = bucket.nodefusion(dir.path(), &["run", "failing.toml"]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("late_failure"), "{}", stderr(&run));
    assert_eq!(
        bucket.keys().await,
        before,
        "the previous output, and no staging left"
    );
}

/// A pipeline whose HTTP node calls `base` once per row (10 ms each, 2 in flight), into
/// `target`, replacing what is there.
fn slow_pipeline(dir: &Path, base: &str, target: &str) {
    let text = format!(
        r#"
[input]
path = "docs.parquet"
[output]
path = "{target}"
mode = "overwrite"
columns = ["id", "fetched"]
[defaults]
batch_size = 8
[[nodes]]
name = "url"
sql = "concat('{base}/delay/10/', CAST(id AS VARCHAR))"
[[nodes]]
name = "fetched"
function = "http_get"
inputs = ["url"]
max_concurrency = 2
"#
    );
    std::fs::write(dir.join("slow.toml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_leaves_the_previous_output_and_the_next_run_clears_what_it_left() {
    let bucket = S3Server::shared().bucket("killed");
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 200, 8);
    let (base, log) = service::start().await;
    let target = bucket.url("out/");
    slow_pipeline(dir.path(), &base, &target);
    let first = bucket.nodefusion(dir.path(), &["run", "slow.toml", "--quiet"]);
    assert!(first.status.success(), "{}", stderr(&first));
    for calls_before_kill in [0, 60] {
        let committed = bucket.keys().await;
        let previous = bucket_rows(&bucket, "out/", dir.path()).await;
        let seen = log.requests();
        let mut child = bucket
            .command(dir.path(), &["run", "slow.toml", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The staging prefix is made before the first row is read.
        while !bucket
            .keys()
            .await
            .iter()
            .any(|key| key.contains(".nodefusion-staging-"))
            || log.requests() < seen + calls_before_kill
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let keys = bucket.keys().await;
        assert!(
            committed.iter().all(|key| keys.contains(key)),
            "the previous output is whole: {keys:?}"
        );
        assert_eq!(bucket_rows(&bucket, "out/", dir.path()).await, previous);
        let next = bucket.nodefusion(dir.path(), &["run", "slow.toml"]);
        assert!(next.status.success(), "{}", stderr(&next));
        assert!(
            stdout(&next).contains("left by an interrupted run"),
            "{}",
            stdout(&next)
        );
        let keys = bucket.keys().await;
        assert!(
            keys.iter().all(|key| key.starts_with("out/")),
            "the killed run's staging is gone: {keys:?}"
        );
        assert_eq!(bucket_rows(&bucket, "out/", dir.path()).await, previous);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_cut_short_is_finished_by_the_next_run() {
    let bucket = S3Server::shared().bucket("cut-commit");
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 60, 9);
    let target = bucket.url("out/");
    let file = pipeline(
        dir.path(),
        "p",
        "docs.parquet",
        &target,
        "mode = \"overwrite\"",
    );
    assert!(
        bucket
            .nodefusion(dir.path(), &["run", &file])
            .status
            .success()
    );
    // What a run killed inside its commit leaves: its staging prefix with the staged file
    // and the journal, one of two copies made, the old file not yet removed, and a lease of
    // a process of this machine that has ended.
    let store = bucket.store();
    let old = bucket.keys().await;
    let old_file = old
        .iter()
        .find(|key| key.ends_with(".parquet"))
        .unwrap()
        .clone();
    let staging = "out.nodefusion-staging-4294967295-0";
    let staged = |name: &str| ObjectPath::from(format!(".{staging}/{name}"));
    let data = store
        .get(&ObjectPath::from(old_file.as_str()))
        .await
        .unwrap();
    let data = data.bytes().await.unwrap();
    for name in ["new-a.parquet", "new-b.parquet"] {
        store.put(&staged(name), data.clone().into()).await.unwrap();
    }
    store
        .copy(
            &staged("new-a.parquet"),
            &ObjectPath::from("out/new-a.parquet"),
        )
        .await
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    store
        .put(
            &staged("_LEASE"),
            format!("{} 4294967295", host.trim()).into(),
        )
        .await
        .unwrap();
    let journal = serde_json::json!({
        "copies": [
            [format!(".{staging}/new-a.parquet"), "out/new-a.parquet"],
            [format!(".{staging}/new-b.parquet"), "out/new-b.parquet"],
        ],
        "deletes": [old_file],
        "marker": "out/_SUCCESS",
    });
    store
        .put(&staged("_COMMIT"), journal.to_string().into())
        .await
        .unwrap();
    // The next run to the target finishes that commit before it adds its own file.
    let next_file = pipeline(
        dir.path(),
        "next",
        "docs.parquet",
        &target,
        "mode = \"append\"",
    );
    let next = bucket.nodefusion(dir.path(), &["run", &next_file]);
    assert!(next.status.success(), "{}", stderr(&next));
    assert!(
        stdout(&next).contains("finished the commit"),
        "{}",
        stdout(&next)
    );
    let keys = bucket.keys().await;
    assert!(
        !keys.contains(&old_file),
        "the journal's delete was done: {keys:?}"
    );
    for done in ["out/new-a.parquet", "out/new-b.parquet", "out/_SUCCESS"] {
        assert!(keys.contains(&done.to_string()), "{done}: {keys:?}");
    }
    assert_eq!(keys.len(), 4, "and the next run's own file: {keys:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_continues_a_killed_run_over_files_in_the_bucket() {
    let bucket = S3Server::shared().bucket("resume");
    let dir = tempfile::tempdir().unwrap();
    for file in 0..3 {
        let local = docs_file(dir.path(), &format!("part-{file}.parquet"), 40, 20 + file);
        bucket
            .upload(&local, &format!("in/part-{file}.parquet"))
            .await;
    }
    let (base, log) = service::start().await;
    let text = std::fs::read_to_string({
        slow_pipeline(dir.path(), &base, &bucket.url("out/"));
        dir.path().join("slow.toml")
    })
    .unwrap()
    .replace(
        "path = \"docs.parquet\"",
        &format!("path = \"{}\"", bucket.url("in/")),
    );
    std::fs::write(dir.path().join("slow.toml"), text).unwrap();
    let cache = dir.path().join("cache");
    let run = |args: &[&str]| {
        let mut command = bucket.command(dir.path(), args);
        command.env("NODEFUSION_CACHE", &cache);
        command
    };
    // Killed once the first input file's output is kept.
    let mut child = run(&["run", "slow.toml", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let kept = |name: &str| {
        crate::support::files_below(&cache.join("units"))
            .iter()
            .any(|file| file.ends_with(name))
    };
    while !(cache.join("units").exists() && kept("part-00000.parquet")) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        bucket
            .keys()
            .await
            .iter()
            .all(|key| !key.starts_with("out/")),
        "nothing at the target yet"
    );
    let calls = log.requests();
    let resumed = run(&["run", "slow.toml", "--resume"]).output().unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stdout(&resumed).contains("resumed: kept the output of 1 input file(s)"),
        "{}",
        stdout(&resumed)
    );
    assert!(
        log.requests() - calls <= 80,
        "the first file's 40 rows were not fetched again"
    );
    // Each file's ids run from 0 to 39: every (id, answer) three times, no more, no less.
    let rows = sorted(bucket_rows(&bucket, "out/", dir.path()).await);
    assert_eq!(rows.len(), 120, "every row once");
    assert!(rows.chunks(3).all(|three| three[0] == three[2]), "{rows:?}");
    assert!(!cache.join("units").read_dir().unwrap().any(|_| true));
}
