//! Pipelines and SQL on a Ballista cluster of separate `nodefusion cluster` processes on
//! 127.0.0.1: the same results as a local run, row for row; a job's parts spread over the
//! executors, which share instances and limits across their tasks; inputs at object-store
//! URLs; a killed executor's job completes on another; with every executor gone the job
//! fails clearly; a scheduler out of reach is named. And every plan node of ours (the spread
//! form too) through the cluster's codecs and back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use datafusion::physical_plan::{collect, displayable};
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::{
    logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use nodefusion::cluster::{NodefusionLogicalCodec, NodefusionPhysicalCodec, cluster_state, spread};
use nodefusion::config::{Overrides, load};
use nodefusion::{CompiledPipeline, new_context};

use crate::support::cluster::{Cluster, EXECUTOR_TIMEOUT_SECONDS};
use crate::support::{
    docs_file, fused_calls, nodefusion, parquet_rows, rows_text, service, stderr,
};

/// Three input files and a pipeline over them with text nodes, a stateful node (`embed`)
/// and an async HTTP node calling `base` (each call `delay_ms` long, two in flight).
fn job(dir: &Path, base: &str, delay_ms: u64) -> PathBuf {
    job_with(dir, Some((base, delay_ms)))
}

/// [`job`], without the HTTP nodes when `service` is None.
fn job_with(dir: &Path, service: Option<(&str, u64)>) -> PathBuf {
    shaped_job(dir, 12, service, true)
}

/// Three input files of `rows` documents each and a pipeline over them with text nodes,
/// then the HTTP nodes calling `service` (its base and each call's delay) when given, then
/// an `embed` node (batches of 5 rows) when `embed`.
fn shaped_job(dir: &Path, rows: usize, service: Option<(&str, u64)>, embed: bool) -> PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (index, seed) in [3, 5, 7].into_iter().enumerate() {
        docs_file(&input, &format!("part-{index}.parquet"), rows, seed);
    }
    let (columns, http_nodes) = match service {
        Some((base, delay_ms)) => (
            r#", "status", "body""#,
            format!(
                r#"
[[nodes]]
name = "url"
sql = "concat('{base}/delay/{delay_ms}/', CAST(id AS VARCHAR), '-', CAST(words AS VARCHAR))"
output = "url"
[[nodes]]
name = "fetch"
function = "http_get"
inputs = ["url"]
output = "fetched"
max_concurrency = 2
[[nodes]]
name = "status"
sql = "fetched['status']"
output = "status"
[[nodes]]
name = "body"
sql = "fetched['body']"
output = "body""#
            ),
        ),
        None => ("", String::new()),
    };
    let (embed_column, batch_size, embed_node) = match embed {
        true => (
            r#", "title_vector""#,
            "batch_size = 5",
            r#"
[[nodes]]
name = "embed_title"
function = "embed"
inputs = ["title"]
output = "title_vector"
batch_size = 4"#,
        ),
        false => ("", "", ""),
    };
    let pipeline = dir.join("job.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "cluster_job"
[input]
path = "{input}"
[output]
path = "out.parquet"
columns = ["id", "clean_text", "words"{columns}{embed_column}]
mode = "overwrite"
[defaults]
partitions = 2
{batch_size}
[[nodes]]
name = "clean"
function = "normalize_text"
inputs = ["text"]
output = "clean_text"
[[nodes]]
name = "words"
function = "word_count"
inputs = ["clean_text"]
output = "words"{http_nodes}{embed_node}
"#,
            input = input.display()
        ),
    )
    .unwrap();
    pipeline
}

/// The pipeline file `pipeline` compiled here, with its context.
async fn compile(pipeline: &Path) -> (SessionContext, CompiledPipeline) {
    let spec = load(pipeline, &Overrides::default()).unwrap();
    let ctx = new_context().unwrap();
    let compiled = spec
        .pipeline
        .compile(&ctx, spec.input.as_ref().unwrap())
        .await
        .unwrap();
    (ctx, compiled)
}

/// `nodefusion run PIPELINE --output OUTPUT [--cluster URL]` as a child process.
fn start_run(dir: &Path, pipeline: &Path, output: &str, cluster: Option<&str>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nodefusion"));
    command
        .current_dir(dir)
        .arg("run")
        .arg(pipeline)
        .args(["--output", output, "--quiet"]);
    if let Some(url) = cluster {
        command.args(["--cluster", url]);
    }
    command
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

/// Waits until the service has had `requests` requests.
async fn wait_for_requests(log: &service::ServiceLog, requests: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while log.requests() < requests {
        assert!(Instant::now() < deadline, "the job made no calls");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_success(output: &Output, cluster: &Cluster) {
    assert!(
        output.status.success(),
        "the run failed: {}\n{}",
        stderr(output),
        cluster.logs()
    );
}

/// Runs `pipeline` here and on a new cluster of `executors` executors of `slots` slots:
/// both must succeed and write the same rows. The cluster, the cluster run, and the rows.
async fn same_rows_here_and_on_a_cluster(
    dir: &Path,
    pipeline: &Path,
    executors: usize,
    slots: usize,
) -> (Cluster, Output, Vec<String>) {
    let local = finish(start_run(dir, pipeline, "local.parquet", None)).await;
    assert!(local.status.success(), "{}", stderr(&local));
    let cluster = Cluster::start(dir, executors, slots);
    let remote = finish(start_run(
        dir,
        pipeline,
        "cluster.parquet",
        Some(&cluster.url),
    ))
    .await;
    assert_success(&remote, &cluster);
    let expected = parquet_rows(&dir.join("local.parquet"));
    assert_eq!(parquet_rows(&dir.join("cluster.parquet")), expected);
    (cluster, remote, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_and_sql_on_two_executors_equal_a_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _log) = service::start().await;
    let pipeline = job(dir.path(), &base, 1);
    let (cluster, remote, rows) =
        same_rows_here_and_on_a_cluster(dir.path(), &pipeline, 2, 1).await;
    let summary = String::from_utf8_lossy(&remote.stdout);
    assert!(summary.contains("36 rows out"), "{summary}");
    assert!(
        summary.contains("its rows came back here to be written"),
        "{summary}"
    );
    // Each node's figures, from the executors' reports to the scheduler.
    for node in ["clean", "words", "fetch", "embed_title"] {
        let line = summary
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{node} ")))
            .unwrap_or_else(|| panic!("no figures of {node}: {summary}"));
        assert!(line.contains(" 36 "), "{line}");
    }
    assert!(summary.contains("instances"), "{summary}");
    assert_eq!(rows.len(), 36);

    // SQL: a node call lifted out of the query (logical codec), text functions (one pair
    // fused), and `top_k` over the pipeline's vectors (its table and operator through the
    // codecs).
    let queries = [
        "SELECT id, word_count(text) AS words, vector_norm(embed(title)) > 0.99 AS unit, \
         regexp_replace(lower(text), '[^a-z ]', '', 'g') AS norm FROM 'in' ORDER BY id, words, norm",
        "SELECT query_id, passage_id, rank FROM top_k('local.parquet', 'title_vector', \
         'local.parquet', 'title_vector', 2) ORDER BY query_id, rank",
    ];
    for query in queries {
        let here = nodefusion(dir.path(), &["sql", "--format", "csv", query]);
        let there = nodefusion(
            dir.path(),
            &["sql", "--format", "csv", "--cluster", &cluster.url, query],
        );
        assert!(here.status.success(), "{}", stderr(&here));
        assert_success(&there, &cluster);
        assert_eq!(there.stdout, here.stdout, "{query}");
        assert!(here.stdout.len() > 100, "{query}");
    }
}

/// The job cut into eight parts on two executors of two slots each: the output is the
/// local run's; both executors run parts; each builds the model once for all the parts it
/// runs (the node allows one instance), and holds the HTTP node to one call in flight
/// across its two slots (`max_concurrency` is per executor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_spread_over_executors_which_share_instances_and_limits_across_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let (base, log) = service::start().await;
    let pipeline = job(dir.path(), &base, 20);
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("partitions = 2", "partitions = 8")
        .replace("max_concurrency = 2", "max_concurrency = 1")
        .replace("batch_size = 4", "batch_size = 4\nmax_concurrency = 1");
    std::fs::write(&pipeline, text).unwrap();
    let (cluster, _, rows) = same_rows_here_and_on_a_cluster(dir.path(), &pipeline, 2, 2).await;
    assert_eq!(rows.len(), 36);
    // 36 calls here, 36 there.
    assert_eq!(log.requests(), 72);
    for executor in 0..2 {
        let built = cluster
            .executor_log(executor)
            .matches("embed: built an instance")
            .count();
        assert_eq!(built, 1, "executor {executor}:\n{}", cluster.logs());
    }
    assert!(
        log.most_in_flight() <= 2,
        "{} calls in flight",
        log.most_in_flight()
    );
}

/// An input served over HTTP (an object store URL): the executors build its store
/// themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executors_read_an_object_store_url_they_were_not_told_of() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = job_with(dir.path(), None);
    let input = dir.path().join("in");
    let base = crate::support::serve_files(input.clone()).await;
    let text = std::fs::read_to_string(&pipeline).unwrap().replace(
        &format!("path = \"{}\"", input.display()),
        &format!("path = \"{base}/part-1.parquet\""),
    );
    std::fs::write(&pipeline, text).unwrap();
    let (_cluster, _, rows) = same_rows_here_and_on_a_cluster(dir.path(), &pipeline, 2, 1).await;
    assert_eq!(rows.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_executor_s_job_completes_on_another_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (base, log) = service::start().await;
    let pipeline = job(dir.path(), &base, 150);
    let local = finish(start_run(dir.path(), &pipeline, "local.parquet", None)).await;
    assert!(local.status.success(), "{}", stderr(&local));
    let calls = log.requests();

    // One executor takes the job; once it is calling, a second one joins and the first
    // is killed mid-job.
    let mut cluster = Cluster::start(dir.path(), 1, 1);
    let run = start_run(dir.path(), &pipeline, "cluster.parquet", Some(&cluster.url));
    wait_for_requests(&log, calls + 4).await;
    cluster.add_executor();
    cluster.kill_executor(0);
    let remote = finish(run).await;
    assert_success(&remote, &cluster);
    assert_eq!(
        parquet_rows(&dir.path().join("cluster.parquet")),
        parquet_rows(&dir.path().join("local.parquet"))
    );
    // The killed executor's calls were made again.
    assert!(
        log.requests() > calls * 2,
        "{} calls",
        log.requests() - calls
    );
}

/// Whether process `pid` holds an established TCP connection to port `port` (its sockets in
/// `/proc/PID/fd`, their connections in `/proc/net/tcp`).
fn connected_to(pid: u32, port: u16) -> bool {
    let sockets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            let inode = link.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_string())
        })
        .collect();
    let remote = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.len() > 9
                    && fields[2].ends_with(&remote)
                    && fields[3] == "01"
                    && sockets.iter().any(|socket| socket == fields[9])
            })
    })
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`, by the shell's own `kill`.
fn signal(pid: u32, signal: &str) {
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -{signal} {pid}")])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The job's rows come back from the executor that holds them after the job succeeded:
/// killed while the client reads them, the job runs again on another executor and the
/// output holds every row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_while_its_rows_come_back_costs_a_rerun_not_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = shaped_job(dir.path(), 4_000, None, false);
    let local = finish(start_run(dir.path(), &pipeline, "local.parquet", None)).await;
    assert!(local.status.success(), "{}", stderr(&local));

    // The client is stopped as soon as it connects to the executor that holds the rows (to
    // fetch them: the job has succeeded), the executor is killed, and the client goes on.
    let mut cluster = Cluster::start(dir.path(), 1, 1);
    let run = start_run(dir.path(), &pipeline, "cluster.parquet", Some(&cluster.url));
    let port = cluster.executor_port(0);
    let deadline = Instant::now() + Duration::from_secs(180);
    while !connected_to(run.id(), port) {
        assert!(
            Instant::now() < deadline,
            "the client never fetched the rows"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    signal(run.id(), "STOP");
    cluster.add_executor();
    cluster.kill_executor(0);
    signal(run.id(), "CONT");
    let remote = finish(run).await;
    assert_success(&remote, &cluster);
    let message = stderr(&remote);
    assert!(message.contains("the job's results are lost"), "{message}");
    assert!(message.contains("running the job again"), "{message}");
    assert_eq!(
        parquet_rows(&dir.path().join("cluster.parquet")),
        parquet_rows(&dir.path().join("local.parquet"))
    );
    let summary = String::from_utf8_lossy(&remote.stdout);
    assert!(summary.contains("12000 rows out"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_executor_killed_the_job_fails_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (base, log) = service::start().await;
    let pipeline = job(dir.path(), &base, 300);
    let mut cluster = Cluster::start(dir.path(), 1, 1);
    let started = Instant::now();
    let run = start_run(dir.path(), &pipeline, "cluster.parquet", Some(&cluster.url));
    wait_for_requests(&log, 2).await;
    cluster.kill_executor(0);
    let killed = Instant::now();
    let remote = finish(run).await;
    let message = stderr(&remote);
    assert!(!remote.status.success());
    assert!(message.contains(&cluster.url), "{message}");
    assert!(message.contains("executors"), "{message}");
    // Failed within a bound: the executor timeout, the grace period, and slack.
    let bound = Duration::from_secs(4 * EXECUTOR_TIMEOUT_SECONDS + 20);
    assert!(
        killed.elapsed() < bound,
        "{:?} after the kill",
        killed.elapsed()
    );
    assert!(started.elapsed() < bound + Duration::from_secs(120));
    assert!(!dir.path().join("cluster.parquet").exists());
}

#[test]
fn a_scheduler_out_of_reach_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("df://127.0.0.1:{port}");
    let output = nodefusion(dir.path(), &["sql", "--cluster", &url, "SELECT 1"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("cannot reach the scheduler"), "{message}");
    let output = nodefusion(
        dir.path(),
        &["sql", "--cluster", "127.0.0.1:50050", "SELECT 1"],
    );
    assert!(
        stderr(&output).contains("df://HOST:PORT"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_executor_that_cannot_start_names_its_address_and_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 0, 1);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let scheduler = cluster.url.trim_start_matches("df://").to_string();
    let work_dir = dir.path().join("work").display().to_string();
    let output = nodefusion(
        dir.path(),
        &[
            "cluster",
            "executor",
            "--scheduler",
            &scheduler,
            "--bind",
            &bind,
            "--work-dir",
            &work_dir,
        ],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains(&bind), "{message}");
    assert!(message.contains(&scheduler), "{message}");
}

/// Every kind of nodefusion plan node, encoded by the cluster's codecs and decoded against
/// a cluster session: the same plan, and the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_plan_node_round_trips_through_the_codecs() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _log) = service::start().await;
    let pipeline = job(dir.path(), &base, 1);
    let (ctx, compiled) = compile(&pipeline).await;
    let decoding = cluster_state(nodefusion::cluster::cluster_config()).unwrap();
    let task_ctx = decoding.task_ctx();
    let (logical_codec, physical_codec) = (
        NodefusionLogicalCodec::default(),
        NodefusionPhysicalCodec::default(),
    );

    // Logical: the pipeline's plan (Rechunk, Scatter, NodeCall, Gather) and SQL's.
    let frame = ctx
        .sql(&format!(
            "SELECT id, embed(title) AS v FROM '{}' ORDER BY id",
            dir.path().join("in").display()
        ))
        .await
        .unwrap();
    let sql_plan = frame.into_optimized_plan().unwrap();
    for plan in [compiled.logical_plan(), &sql_plan] {
        let bytes = logical_plan_to_bytes_with_extension_codec(plan, &logical_codec).unwrap();
        let decoded =
            logical_plan_from_bytes_with_extension_codec(&bytes, &task_ctx, &logical_codec)
                .unwrap();
        assert_eq!(
            decoded.display_indent().to_string(),
            plan.display_indent().to_string()
        );
    }
    let text = compiled.logical_plan().display_indent().to_string();
    for kind in ["Rechunk", "Scatter", "NodeCall", "Gather"] {
        assert!(text.contains(kind), "{kind} in {text}");
    }

    // Physical: the pipeline's operators, and top_k's (over the pipeline's output),
    // giving the same rows.
    compiled
        .write(&nodefusion::Output::parquet(
            dir.path().join("local.parquet"),
        ))
        .await
        .unwrap();
    let top_k_plan = ctx
        .sql(&format!(
            "SELECT * FROM top_k('{p}', 'title_vector', '{p}', 'title_vector', 3)",
            p = dir.path().join("local.parquet").display()
        ))
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    // One small file: one partition, so the rows come in one order.
    let fused_plan = ctx
        .sql(&format!(
            "SELECT id, regexp_replace(lower(title), '[^a-z ]', '', 'g') AS t FROM '{}'",
            dir.path().join("in/part-0.parquet").display()
        ))
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    assert_eq!(fused_calls(&fused_plan), 1);
    for plan in [compiled.instance().unwrap(), top_k_plan, fused_plan] {
        let bytes =
            physical_plan_to_bytes_with_extension_codec(plan.clone(), &physical_codec).unwrap();
        let decoded =
            physical_plan_from_bytes_with_extension_codec(&bytes, &task_ctx, &physical_codec)
                .unwrap();
        let shown = |plan: &std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>| {
            displayable(plan.as_ref()).indent(false).to_string()
        };
        assert_eq!(shown(&decoded), shown(&plan));
        assert_eq!(fused_calls(&decoded), fused_calls(&plan));
        let expected = rows_text(&collect(plan, ctx.task_ctx()).await.unwrap());
        let actual = rows_text(&collect(decoded, ctx.task_ctx()).await.unwrap());
        assert_eq!(actual, expected);
        assert!(!expected.is_empty());
    }
    let text = displayable(compiled.physical_plan().as_ref())
        .indent(false)
        .to_string();
    for kind in ["RechunkExec", "ScatterExec", "NodeExec", "GatherExec"] {
        assert!(text.contains(kind), "{kind} in {text}");
    }

    // The writer of parts on executors (its figures' positions too: shown by the display
    // of the decoded plan, and by its message).
    let target = nodefusion::PartsTarget {
        staging_url: "s3://bucket/.out.nodefusion-staging-1-0/".into(),
        run: "000000000001".into(),
        compression: "snappy".into(),
        row_group_rows: 1000,
    };
    let writing = nodefusion::cluster::spread_writing(
        &compiled.instance().unwrap(),
        2,
        target,
        compiled.node_operators(),
    )
    .unwrap()
    .unwrap();
    let bytes =
        physical_plan_to_bytes_with_extension_codec(writing.clone(), &physical_codec).unwrap();
    let decoded =
        physical_plan_from_bytes_with_extension_codec(&bytes, &task_ctx, &physical_codec).unwrap();
    let shown = |plan: &std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>| {
        displayable(plan.as_ref()).indent(false).to_string()
    };
    assert_eq!(shown(&decoded), shown(&writing));
    assert!(shown(&writing).contains("PartWriterExec: s3://bucket/"));
    let writer = |plan: &std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>| {
        let writer = plan.children()[0];
        let writer = writer
            .downcast_ref::<nodefusion::cluster::PartWriterExec>()
            .unwrap();
        (writer.target().clone(), writer.nodes().to_vec())
    };
    assert_eq!(writer(&decoded), writer(&writing));
    assert!(
        writer(&writing)
            .1
            .iter()
            .all(|(_, positions)| !positions.is_empty())
    );
}

/// The spread form of a pipeline's plan (its input cut into parts that run as separate
/// tasks, merged back in input order), run here: the rows of the local plan, in the same
/// order, whatever the number of parts: over whole files, over byte ranges of Parquet files
/// with many row groups, and over JSON lines; and the same again after the codecs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spread_plan_gives_the_local_rows_in_order_for_any_number_of_parts() {
    let dir = tempfile::tempdir().unwrap();
    // No async node: run here, a merge does not poll the parts it is not taking from, and
    // they would keep the node's calls in flight (on a cluster, each part is a task of
    // its own, its output written out whole before the merge).
    let job_file = job_with(dir.path(), None);
    let docs = dir.path().join("in");
    let ranged = dir.path().join("ranged");
    std::fs::create_dir_all(&ranged).unwrap();
    let lines = dir.path().join("lines");
    std::fs::create_dir_all(&lines).unwrap();
    for index in 0..3 {
        let file = docs.join(format!("part-{index}.parquet"));
        let select = format!("SELECT * FROM '{}'", file.display());
        let ctx = new_context().unwrap();
        for (target, options) in [
            (
                ranged.join(format!("part-{index}.parquet")),
                "OPTIONS (max_row_group_size 3)",
            ),
            (lines.join(format!("part-{index}.json")), ""),
        ] {
            let sql = format!("COPY ({select}) TO '{}' {options}", target.display());
            ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        }
    }
    let decoding = cluster_state(nodefusion::cluster::cluster_config()).unwrap();
    let codec = NodefusionPhysicalCodec::default();
    let job_text = std::fs::read_to_string(&job_file).unwrap();
    for (input, format) in [(&docs, "parquet"), (&ranged, "parquet"), (&lines, "json")] {
        let pipeline = dir.path().join("spread.toml");
        let text = job_text.replace(
            &format!("path = \"{}\"", docs.display()),
            &format!("path = \"{}\"\nformat = \"{format}\"", input.display()),
        );
        std::fs::write(&pipeline, text).unwrap();
        let (ctx, compiled) = compile(&pipeline).await;
        let local = rows_text(
            &collect(compiled.instance().unwrap(), ctx.task_ctx())
                .await
                .unwrap(),
        );
        assert_eq!(local.len(), 36);
        let nodes = compiled.node_operators();
        assert!(
            spread(&compiled.instance().unwrap(), 1, nodes)
                .unwrap()
                .is_none()
        );
        for parts in [2, 3, 5] {
            let sent = spread(&compiled.instance().unwrap(), parts, nodes)
                .unwrap()
                .unwrap();
            let plan = sent.plan;
            // Every node's operators are in the plan sent.
            assert_eq!(sent.nodes.len(), nodes.len());
            let shown_operators = displayable(plan.as_ref()).indent(false).to_string();
            for node in &sent.nodes {
                assert!(!node.operators.is_empty(), "{}", node.node);
                for operator in &node.operators {
                    let line = displayable(operator.as_ref()).one_line().to_string();
                    assert!(shown_operators.contains(line.trim()), "{line}");
                }
            }
            let shown = displayable(plan.as_ref()).indent(false).to_string();
            assert!(
                shown.contains("UnionExec") && shown.contains("SortPreservingMergeExec"),
                "{shown}"
            );
            assert!(
                !shown.contains("ScatterExec") && !shown.contains("GatherExec"),
                "{shown}"
            );
            let spread_rows = rows_text(&collect(plan.clone(), ctx.task_ctx()).await.unwrap());
            assert_eq!(
                spread_rows,
                local,
                "{} in {parts} parts:\n{shown}",
                input.display()
            );
            let bytes = physical_plan_to_bytes_with_extension_codec(plan, &codec).unwrap();
            let decoded =
                physical_plan_from_bytes_with_extension_codec(&bytes, &decoding.task_ctx(), &codec)
                    .unwrap();
            let decoded_rows = rows_text(&collect(decoded, ctx.task_ctx()).await.unwrap());
            assert_eq!(
                decoded_rows,
                local,
                "{} in {parts} parts, decoded",
                input.display()
            );
        }
    }
}

/// Two executors calling one provider: its requests per minute are split between them (the
/// scheduler counts the executors), so together they stay under the server's limit; each
/// alone at the whole limit would go over it by two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_share_a_provider_s_rate_limit() {
    use crate::support::llm_server::{KEY_VARIABLE, LlmServer};
    const KEY: &str = "sk-cluster-test-0d8b";
    let dir = tempfile::tempdir().unwrap();
    // The server takes 10 requests a second (20 at once after a pause: a server slowed
    // down by a busy machine answers a backlog at once), and says nothing of its limits in
    // headers. The provider's 400 a minute, split, is 6.7 a second in all; unsplit, 13.3.
    let server = LlmServer::start(
        &["--rpm", "600", "--burst-seconds", "2", "--no-limit-headers"],
        Some(KEY),
    );
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    for part in 0..4 {
        let select = format!(
            "SELECT value AS id, 'Question {part}.' || value AS prompt FROM generate_series(1, 25) ORDER BY value"
        );
        crate::support::parquet_from_sql(&prompts.join(format!("part-{part}.parquet")), &select)
            .await;
    }
    let pipeline = dir.path().join("answers.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"[input]
path = "{prompts}"
[output]
path = "answers.parquet"
[defaults]
partitions = 4
[providers.local]
base_url = "{url}"
api_key_env = "{KEY_VARIABLE}"
model = "gpt-4o-mini"
rpm = 400
burst_seconds = 1
[[nodes]]
name = "answer"
function = "llm"
inputs = ["prompt"]
output = "answer"
max_concurrency = 8
cache = "off"
params = {{ provider = "local", max_tokens = 8, temperature = 0 }}
"#,
            prompts = prompts.display(),
            url = server.url
        ),
    )
    .unwrap();
    let cluster = Cluster::start_with(dir.path(), 2, 2, vec![(KEY_VARIABLE, KEY.to_string())]);
    let run = Command::new(env!("CARGO_BIN_EXE_nodefusion"))
        .current_dir(dir.path())
        .arg("run")
        .arg(&pipeline)
        .args(["--cluster", &cluster.url])
        .env(KEY_VARIABLE, KEY)
        .output()
        .unwrap();
    assert_success(&run, &cluster);
    assert_eq!(server.count("served"), 100);
    assert_eq!(server.count("rate_limited"), 0, "{}", cluster.logs());
}
