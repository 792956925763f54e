//! Interrupted runs, for real: a `nodefusion run` child process over several input files,
//! whose HTTP node calls a service of this test, killed (SIGKILL) or interrupted (SIGINT, as
//! Ctrl-C) at several points of the run, measured by the calls the service has seen. After
//! each: the target holds the previous output untouched, or nothing; nothing beside it that
//! a reader could take for a result; and a run after it gives the rows of an uninterrupted
//! run. `--resume` keeps the input files a killed run had finished and repeats no call
//! whose result the cache kept.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{docs_file, files_below, parquet_rows, service};

/// Input files, and their rows in all.
const FILES: usize = 4;
const ROWS_PER_FILE: usize = 60;
const ROWS: usize = FILES * ROWS_PER_FILE;

/// A pipeline over `FILES` input files writing the directory `target` (overwrite mode):
/// text nodes, then one HTTP call per row to `base`, each 10 ms long, 4 in flight.
fn pipeline(dir: &Path, base: &str, target: &str) {
    let input = dir.join("docs");
    std::fs::create_dir_all(&input).unwrap();
    for file in 0..FILES {
        docs_file(
            &input,
            &format!("part-{file}.parquet"),
            ROWS_PER_FILE,
            file as u64,
        );
    }
    let text = format!(
        r#"
[input]
path = "docs"
[output]
path = "{target}"
mode = "overwrite"
columns = ["id", "clean", "words", "fetched"]
[defaults]
batch_size = 8
partitions = 2
[[nodes]]
name = "clean"
function = "normalize_text"
inputs = ["text"]
[[nodes]]
name = "words"
function = "word_count"
inputs = ["clean"]
[[nodes]]
name = "url"
sql = "concat('{base}/delay/10/', CAST(id AS VARCHAR), '-', CAST(words AS VARCHAR))"
[[nodes]]
name = "fetched"
function = "http_get"
inputs = ["url"]
max_concurrency = 4
"#
    );
    std::fs::write(dir.join(format!("{target}.toml")), text).unwrap();
}

/// Starts `nodefusion run TARGET.toml` in `dir`.
fn start(dir: &Path, target: &str) -> Child {
    start_with(dir, target, &[])
}

/// Starts `nodefusion run TARGET.toml ARGS` in `dir`, its result cache in `dir/cache`.
fn start_with(dir: &Path, target: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nodefusion"))
        .args(["run", &format!("{target}.toml"), "--quiet"])
        .args(args)
        .env("NODEFUSION_CACHE", dir.join("cache"))
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every row under `target`, sorted (file names differ from run to run).
fn rows_below(target: &Path) -> Vec<String> {
    let mut rows: Vec<String> = files_below(target)
        .iter()
        .flat_map(|file| parquet_rows(&target.join(file)))
        .collect();
    rows.sort();
    rows
}

/// What a reader listing `directory` could take for a result: its entries that are not
/// hidden.
fn visible_entries(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Waits until the service has seen `calls` more calls than `before`, or the child ended.
async fn wait_for_calls(log: &service::ServiceLog, before: usize, calls: usize, child: &mut Child) {
    while log.requests() < before + calls && child.try_wait().unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_or_interrupted_at_any_point_leaves_the_previous_output_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (base, log) = service::start().await;
    for target in ["kept", "fresh"] {
        pipeline(dir.path(), &base, target);
    }
    let finished = start(dir.path(), "kept").wait_with_output().unwrap();
    assert!(finished.status.success(), "{finished:?}");
    let kept = dir.path().join("kept");
    let uninterrupted = rows_below(&kept);
    assert_eq!(uninterrupted.len(), ROWS);
    let mut kept_files = files_below(&kept);

    // (signal, calls seen before it is sent): at once, early, halfway, near the end.
    // (SIGINT waits for the first call: a process started with SIGINT ignored, as a
    // background job of a script is, ignores it until its handler is installed.)
    let points = [
        ("INT", 1),
        ("KILL", 0),
        ("KILL", ROWS / 10),
        ("INT", ROWS / 2),
        ("KILL", ROWS - 8),
        ("INT", ROWS - 4),
    ];
    for (signal, calls) in points {
        for target in ["kept", "fresh"] {
            let mut child = start(dir.path(), target);
            wait_for_calls(&log, log.requests(), calls, &mut child).await;
            // The shell's own `kill`: no kill binary needed.
            let sent = Command::new("sh")
                .args(["-c", &format!("kill -{signal} {}", child.id())])
                .status()
                .unwrap();
            assert!(sent.success());
            let ended = child.wait_with_output().unwrap();
            let point = format!("{target}: SIG{signal} after {calls} calls");
            let message = String::from_utf8_lossy(&ended.stderr).into_owned();
            assert!(!message.contains("panicked"), "{point}: {message}");
            // Half the calls left take 150 ms at least: the signal comes before the end.
            assert!(
                calls > ROWS / 2 || !ended.status.success(),
                "{point}: ran to the end"
            );
            if ended.status.success() {
                // The run finished before the signal came: a whole result.
                assert_eq!(
                    rows_below(&dir.path().join(target)),
                    uninterrupted,
                    "{point}"
                );
            } else if target == "kept" {
                assert_eq!(files_below(&kept), kept_files, "{point}: files changed");
                assert_eq!(rows_below(&kept), uninterrupted, "{point}: rows changed");
            } else {
                assert!(!dir.path().join("fresh").exists(), "{point}: {message}");
            }
            if signal == "INT" && !ended.status.success() {
                let said = message.contains(target) || message.contains("before the run started");
                assert!(
                    message.contains("interrupted") && said,
                    "{point}: {message}"
                );
            }
            let mut expected = vec!["docs", "fresh.toml", "kept", "kept.toml"];
            if dir.path().join("fresh").exists() {
                expected.insert(1, "fresh");
            }
            assert_eq!(visible_entries(dir.path()), expected, "{point}");
        }
        // The next run to a target clears what a killed run left beside it.
        let fresh = dir.path().join("fresh");
        if fresh.exists() {
            std::fs::remove_dir_all(&fresh).unwrap();
        }
        let rerun = start(dir.path(), "fresh").wait_with_output().unwrap();
        assert!(rerun.status.success(), "{rerun:?}");
        assert_eq!(rows_below(&fresh), uninterrupted);
        std::fs::remove_dir_all(&fresh).unwrap();
        let kept_rerun = start(dir.path(), "kept").wait_with_output().unwrap();
        assert!(kept_rerun.status.success(), "{kept_rerun:?}");
        assert_eq!(rows_below(&kept), uninterrupted);
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert_eq!(left, Vec::<String>::new(), "left beside the targets");
        kept_files = files_below(&kept);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_keeps_the_files_it_had_finished_and_repeats_no_cached_call() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = service::start().await;
    pipeline(dir.path(), &base, "whole");
    let finished = start(dir.path(), "whole").wait_with_output().unwrap();
    assert!(finished.status.success(), "{finished:?}");
    let uninterrupted = rows_below(&dir.path().join("whole"));

    // Another service, so that no call of the run above is in the cache.
    let (base, log) = service::start().await;
    pipeline(dir.path(), &base, "out");
    let cached = ["--set", "nodes.fetched.cache=readwrite"];
    let mut child = start_with(dir.path(), "out", &cached);
    // Files run one after the other: past two files' calls, two are finished.
    wait_for_calls(&log, 0, 2 * ROWS_PER_FILE + 30, &mut child).await;
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    let out = dir.path().join("out");
    assert!(!out.exists());
    let before = log.requests();

    let mut args = cached.to_vec();
    args.push("--resume");
    let resumed = start_with(dir.path(), "out", &args)
        .wait_with_output()
        .unwrap();
    let summary = String::from_utf8_lossy(&resumed.stdout).into_owned();
    assert!(resumed.status.success(), "{resumed:?}");
    assert!(
        summary.contains("resumed: kept the output of 2 input file(s)"),
        "{summary}"
    );
    assert_eq!(rows_below(&out), uninterrupted, "every row once");
    // Only calls in flight when the run was killed (at most 4) were not answered, so not
    // kept: every other call is made once in all.
    let calls = log.requests();
    assert!(
        calls <= ROWS + 4,
        "{before} calls before the kill, {calls} in all"
    );
    let hidden = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(hidden, 0, "nothing left beside the output");

    // A file changed since the interrupted run: --resume refuses, a plain run starts again.
    // (A third service: the cache holds every call to the second.)
    let (base, log) = service::start().await;
    pipeline(dir.path(), &base, "out");
    let mut child = start_with(dir.path(), "out", &cached);
    wait_for_calls(&log, 0, ROWS_PER_FILE + 10, &mut child).await;
    child.kill().unwrap();
    let _ = child.wait();
    docs_file(
        &dir.path().join("docs"),
        "part-3.parquet",
        ROWS_PER_FILE,
        99,
    );
    let refused = start_with(dir.path(), "out", &args)
        .wait_with_output()
        .unwrap();
    let message = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success());
    assert!(
        message.contains(
            "--resume: the interrupted run into out had another pipeline, output or input files"
        ),
        "{message}"
    );
    assert_eq!(rows_below(&out), uninterrupted, "the output as it was");
    let again = start_with(dir.path(), "out", &cached)
        .wait_with_output()
        .unwrap();
    let summary = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success(), "{again:?}");
    assert!(
        summary.contains("removed the output of 1 input file(s) an interrupted run had kept"),
        "{summary}"
    );
    assert_eq!(rows_below(&out).len(), ROWS);
}
