//! nodefusion's side of the comparison harness (`benches/compare/run.sh`).
//!
//! `nodefusion_runner` reads one JSON request per line on stdin, runs that workload case
//! once and answers one JSON line on stdout: `{"seconds", "rows", "checksum"}`, plus
//! `"latencies"` (seconds per batch) and `"probe"` (the first vector) for `embed`, and
//! `"peak_memory_mb"` (the command's own) for `text_builtins`. The
//! harness keeps one runner alive per system and sends it warm-ups and repeats in turn
//! with the other systems, so the timed region is the work alone: no process start, no
//! model load (as for a loaded Python model).
//!
//! `nodefusion_runner sql` answers the `overhead` workload with SQL expression nodes instead
//! of closures (the harness's `nodefusion-sql`), and no other workload; `nodefusion_runner
//! compiled` answers it with the closure chain compiled once per shape and run again
//! (`run_batches`, the harness's `nodefusion-compiled`); `nodefusion_runner planned` with a
//! chain of a new name every time, so that compiling it plans it (the harness's
//! `nodefusion-planned`; the plain runner's chain, built again the same way, finds the plan
//! compiling it the first time kept).
//!
//! `nodefusion_runner cluster NODEFUSION EXECUTORS SLOTS` starts a cluster of its own (a
//! scheduler and EXECUTORS executors of SLOTS slots, `NODEFUSION cluster` processes) and
//! answers the `cluster` workload on it, and no other workload.
//!
//! `nodefusion_runner serve` is the remote service of the `io` workload instead: an HTTP/1.1
//! server on 127.0.0.1 (port on stdout) that answers `GET /n/<k>` after 10 ms with the
//! body `<k * 7 % 1000>`.
//!
//! Requests (paths are the files `run.sh` generated; every field is required):
//! - `{"workload": "overhead", "nodes": 3, "rows": 1000}`: a chain of row-wise closures
//!   (add 1, multiply by 2, pass through) over `0..rows`, compiled and run;
//! - `{"workload": "text", "input": P, "output": P}`: normalize -> word count -> `is_short`,
//!   Parquet to Parquet (the harness reads the output back);
//! - `{"workload": "builtins", "input": P, "output": P}`: `lower` and `regexp_replace` ->
//!   `word_count` -> a summary string (`concat`, `left`), Parquet to Parquet;
//! - `{"workload": "text_builtins", "input": P, "output": P, "nodefusion": B, "pipeline":
//!   F}`: the command `B run F` over the input into the output, the whole process timed;
//! - `{"workload": "stateful", "mode": "per_batch" | "per_partition", "rows": N,
//!   "batch_size": B}`: a resource that takes 0.5 s to set up;
//! - `{"workload": "batch_size", "input": P, "batch_size": B}`: normalize -> word count;
//! - `{"workload": "io", "url": U, "rows": N, "concurrency": C}`: `http_get` per row;
//! - `{"workload": "embed", "input": P, "batch_size": B}`: `embed` over column `text`;
//! - `{"workload": "cluster", "job": "text" | "embed", "input": P, "output": P,
//!   "batch_size": B, "kill_after": S (optional)}`: the text job, or `embed` as a built-in
//!   node, in 4 parts, Parquet to Parquet; on a cluster, an executor killed S s in.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

#[path = "../shared/resource.rs"]
mod resource;
mod runner_cluster;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::prelude::SessionContext;
use nodefusion::{CompiledPipeline, Input, Node, Output, Pipeline, new_context};
use nodefusion_function::{
    FunctionInstance, FunctionMeta, InitOptions, StatefulFunction, UserFunction, stateful,
};
use nodefusion_udfs::embedding::Embed;
use resource::Resource;
use runner_cluster::LocalCluster;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The allocator of the `nodefusion` binary, so the figures are the ones it gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the `io` workload's service takes to answer.
const SERVICE_DELAY: Duration = Duration::from_millis(10);

type Outcome = Result<Value, String>;

fn field<'a>(request: &'a Value, name: &str) -> Result<&'a Value, String> {
    request
        .get(name)
        .ok_or_else(|| format!("request without '{name}': {request}"))
}

fn number(request: &Value, name: &str) -> Result<usize, String> {
    field(request, name)?
        .as_u64()
        .map(|value| value as usize)
        .ok_or_else(|| format!("'{name}' is not a count: {request}"))
}

fn text<'a>(request: &'a Value, name: &str) -> Result<&'a str, String> {
    field(request, name)?
        .as_str()
        .ok_or_else(|| format!("'{name}' is not a string: {request}"))
}

fn column_batch(name: &str, column: ArrayRef) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new(
        name,
        column.data_type().clone(),
        false,
    )]));
    RecordBatch::try_new(schema, vec![column]).unwrap()
}

fn column_input(name: &str, column: ArrayRef) -> Input {
    let batch = column_batch(name, column);
    Input::batches(batch.schema(), vec![batch])
}

fn int64_sum(batches: &[RecordBatch], column: &str) -> Result<(usize, i64), String> {
    let mut rows = 0;
    let mut sum = 0i64;
    for batch in batches {
        let values = batch
            .column_by_name(column)
            .ok_or_else(|| format!("no column {column} in the output"))?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| format!("column {column} is not Int64"))?;
        rows += batch.num_rows();
        sum = values.iter().flatten().fold(sum, i64::wrapping_add);
    }
    Ok((rows, sum))
}

/// Runs `pipeline` over `input`, compile included, and times it.
async fn timed_collect(
    ctx: &SessionContext,
    pipeline: Pipeline,
    input: &Input,
) -> Result<(f64, Vec<RecordBatch>), String> {
    let started = Instant::now();
    let compiled = pipeline
        .compile(ctx, input)
        .await
        .map_err(|error| error.to_string())?;
    let batches = compiled
        .collect()
        .await
        .map_err(|error| error.to_string())?;
    Ok((started.elapsed().as_secs_f64(), batches))
}

/// How the `overhead` chain's nodes are written, and what is timed.
#[derive(Clone, Copy, PartialEq)]
enum NodeStyle {
    /// Row-wise Rust closures (`Node::row_fn`), compiled and run.
    Closure,
    /// The closures in a pipeline of a new name each time: compiled (planned) and run.
    Planned,
    /// SQL expressions (`Node::sql`): DataFusion evaluates them, no user function call.
    Sql,
    /// The closures, compiled once per shape (on its warm-up) and run again on the input
    /// (`run_batches`): what a service that keeps its pipeline pays per request.
    Compiled,
}

/// Compiled pipelines by the nodes and rows of their overhead chain.
type KeptPipelines = HashMap<(usize, usize), Arc<CompiledPipeline>>;

/// The pipelines `NodeStyle::Compiled` keeps.
static COMPILED: LazyLock<Mutex<KeptPipelines>> = LazyLock::new(Mutex::default);

/// The overhead chain of `nodes` nodes over column `x`, and its last column.
fn overhead_chain(nodes: usize, style: NodeStyle) -> (Pipeline, String) {
    static CHAINS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = match style {
        NodeStyle::Planned => format!(
            "overhead{}",
            CHAINS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        _ => "overhead".to_string(),
    };
    let mut pipeline = Pipeline::new(name).partitions(1);
    let mut previous = "x".to_string();
    for index in 0..nodes {
        let name = format!("n{index}");
        let node = match style {
            NodeStyle::Closure | NodeStyle::Planned | NodeStyle::Compiled => match index % 3 {
                0 => Node::row_fn(name, |x: i64| x + 1),
                1 => Node::row_fn(name, |x: i64| x * 2),
                _ => Node::row_fn(name, |x: i64| x),
            }
            .inputs([&previous]),
            // A SQL node reads the columns its expression names.
            NodeStyle::Sql => Node::sql(
                name,
                match index % 3 {
                    0 => format!("{previous} + 1"),
                    1 => format!("{previous} * 2"),
                    _ => previous.clone(),
                },
            ),
        };
        let output = format!("v{index}");
        pipeline = pipeline.node(node.output(&output));
        previous = output;
    }
    (pipeline.outputs([&previous]), previous)
}

async fn overhead(ctx: &SessionContext, request: &Value, style: NodeStyle) -> Outcome {
    let nodes = number(request, "nodes")?;
    let rows = number(request, "rows")?;
    let batch = column_batch("x", Arc::new(Int64Array::from_iter_values(0..rows as i64)));
    let input = Input::batches(batch.schema(), vec![batch.clone()]);
    let (pipeline, last) = overhead_chain(nodes, style);
    let (seconds, batches) = if style == NodeStyle::Compiled {
        let kept = COMPILED.lock().unwrap().get(&(nodes, rows)).cloned();
        let compiled = match kept {
            Some(compiled) => compiled,
            None => {
                let compiled = Arc::new(
                    pipeline
                        .compile(ctx, &input)
                        .await
                        .map_err(|error| error.to_string())?,
                );
                COMPILED
                    .lock()
                    .unwrap()
                    .insert((nodes, rows), Arc::clone(&compiled));
                compiled
            }
        };
        let started = Instant::now();
        let output = compiled
            .run_batches(vec![batch])
            .await
            .map_err(|error| error.to_string())?;
        (started.elapsed().as_secs_f64(), output)
    } else {
        timed_collect(ctx, pipeline, &input).await?
    };
    let (rows, sum) = int64_sum(&batches, &last)?;
    Ok(json!({"seconds": seconds, "rows": rows, "checksum": sum.to_string()}))
}

fn word_pipeline(name: &str) -> Pipeline {
    Pipeline::new(name)
        .node(Node::function("clean", "normalize_text").inputs(["text"]))
        .node(Node::function("words", "word_count").inputs(["clean"]))
}

async fn text_job(ctx: &SessionContext, request: &Value) -> Outcome {
    let pipeline = word_pipeline("text")
        .node(Node::sql("is_short", "words < 50"))
        .outputs(["id", "clean", "words", "is_short"]);
    parquet_job(ctx, request, pipeline).await
}

/// The pipeline of DataFusion built-ins and `word_count` a user writes first.
async fn builtins_job(ctx: &SessionContext, request: &Value) -> Outcome {
    let pipeline = Pipeline::new("builtins")
        .node(Node::sql(
            "clean",
            "regexp_replace(lower(text), '[^a-z0-9 ]', '', 'g')",
        ))
        .node(Node::function("words", "word_count").inputs(["clean"]))
        .node(Node::sql(
            "summary",
            "concat(CAST(words AS VARCHAR), ' words: ', left(clean, 24))",
        ))
        .outputs(["id", "words", "summary"]);
    parquet_job(ctx, request, pipeline).await
}

/// A pipeline file run by the `nodefusion` command over the request's input into its
/// output: the whole process timed, as a user runs it, and its own peak memory (the
/// runner's would say nothing of it).
fn command_job(request: &Value) -> Outcome {
    let output = text(request, "output")?;
    let started = Instant::now();
    let mut child = std::process::Command::new(text(request, "nodefusion")?)
        .args(["run", text(request, "pipeline")?, "--quiet"])
        .args(["--input", text(request, "input")?, "--output", output])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start nodefusion: {error}"))?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, which wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes only into the two locals it is given; the child is ours and
    // not waited for anywhere else.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    if waited < 0 {
        return Err(format!(
            "waiting for nodefusion: {}",
            std::io::Error::last_os_error()
        ));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
        }
        return Err(format!(
            "nodefusion failed (wait status {status}): {stderr}"
        ));
    }
    // ru_maxrss: kibibytes on Linux.
    let peak_memory_mb = usage.ru_maxrss as f64 / 1024.0;
    Ok(json!({"seconds": seconds, "output": output, "peak_memory_mb": peak_memory_mb}))
}

/// Compiles `pipeline` over the request's input and writes it to the request's output.
async fn parquet_job(ctx: &SessionContext, request: &Value, pipeline: Pipeline) -> Outcome {
    let output = text(request, "output")?;
    let started = Instant::now();
    let compiled = pipeline
        .compile(ctx, &Input::path(text(request, "input")?))
        .await
        .map_err(|error| error.to_string())?;
    let summary = compiled
        .write(&Output::parquet(output).mode(nodefusion::WriteMode::Overwrite))
        .await
        .map_err(|error| error.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(json!({"seconds": seconds, "rows": summary.rows_out, "output": output}))
}

async fn stateful_resource(ctx: &SessionContext, request: &Value) -> Outcome {
    let rows = number(request, "rows")?;
    let batch_size = number(request, "batch_size")?;
    let udf = match text(request, "mode")? {
        "per_batch" => UserFunction::vectorized(
            "per_batch",
            vec![DataType::Int64],
            DataType::Int64,
            |args| Resource::set_up().apply(args),
        )
        .into_udf(),
        "per_partition" => stateful(
            "per_partition",
            vec![DataType::Int64],
            DataType::Int64,
            |_| Ok(Resource::set_up()),
        ),
        other => return Err(format!("unknown stateful mode '{other}'")),
    };
    let input = column_input("x", Arc::new(Int64Array::from_iter_values(0..rows as i64)));
    let pipeline = Pipeline::new("stateful")
        .node(Node::udf("resource", udf).inputs(["x"]).output("y"))
        .batch_size(batch_size)
        .partitions(2)
        .outputs(["y"]);
    let (seconds, batches) = timed_collect(ctx, pipeline, &input).await?;
    let (rows, sum) = int64_sum(&batches, "y")?;
    Ok(json!({"seconds": seconds, "rows": rows, "checksum": sum.to_string()}))
}

async fn batch_size_sweep(ctx: &SessionContext, request: &Value) -> Outcome {
    let pipeline = word_pipeline("batch_size")
        .outputs(["words"])
        .batch_size(number(request, "batch_size")?);
    let input = Input::path(text(request, "input")?);
    let (seconds, batches) = timed_collect(ctx, pipeline, &input).await?;
    let (rows, sum) = int64_sum(&batches, "words")?;
    Ok(json!({"seconds": seconds, "rows": rows, "checksum": sum.to_string()}))
}

async fn io_calls(ctx: &SessionContext, request: &Value) -> Outcome {
    let url = text(request, "url")?;
    let rows = number(request, "rows")?;
    let urls = StringArray::from_iter_values((0..rows).map(|row| format!("{url}/n/{row}")));
    let pipeline = Pipeline::new("io")
        .node(
            Node::function("response", "http_get")
                .inputs(["url"])
                .max_concurrency(number(request, "concurrency")?),
        )
        .outputs(["response"]);
    let (seconds, batches) =
        timed_collect(ctx, pipeline, &column_input("url", Arc::new(urls))).await?;
    let mut sum = 0i64;
    let mut answered = 0;
    for batch in &batches {
        let bodies = batch.column(0).as_struct().column_by_name("body").unwrap();
        for body in bodies.as_string::<i32>().iter() {
            let body = body.ok_or("a call without an answer")?;
            sum += body
                .parse::<i64>()
                .map_err(|error| format!("body {body:?}: {error}"))?;
            answered += 1;
        }
    }
    Ok(json!({"seconds": seconds, "rows": answered, "checksum": sum.to_string()}))
}

/// Loaded `embed` instances kept across requests, as a service keeps its model loaded.
static LOADED_EMBED: Mutex<Vec<Box<dyn FunctionInstance>>> = Mutex::new(Vec::new());

/// The `embed` node's own instance, its batch latencies recorded, going back to
/// [`LOADED_EMBED`] when the run ends.
struct TimedEmbed {
    instance: Option<Box<dyn FunctionInstance>>,
    latencies: Arc<Mutex<Vec<f64>>>,
}

impl FunctionInstance for TimedEmbed {
    fn process(&mut self, args: &[ArrayRef]) -> datafusion::common::Result<ArrayRef> {
        let started = Instant::now();
        let vectors = self.instance.as_mut().unwrap().process(args)?;
        self.latencies
            .lock()
            .unwrap()
            .push(started.elapsed().as_secs_f64());
        Ok(vectors)
    }
}

impl Drop for TimedEmbed {
    fn drop(&mut self) {
        if let Some(instance) = self.instance.take() {
            LOADED_EMBED.lock().unwrap().push(instance);
        }
    }
}

async fn embed_texts(ctx: &SessionContext, request: &Value) -> Outcome {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&latencies);
    let vector_type = Embed::new()
        .return_type(&[DataType::Utf8])
        .map_err(|error| error.to_string())?;
    let udf = stateful(
        "embed",
        vec![DataType::Utf8],
        vector_type,
        move |options: &InitOptions| {
            let loaded = LOADED_EMBED.lock().unwrap().pop();
            let instance = match loaded {
                Some(instance) => instance,
                None => Embed::new().init(options)?,
            };
            Ok(TimedEmbed {
                instance: Some(instance),
                latencies: Arc::clone(&recorded),
            })
        },
    );
    let pipeline = Pipeline::new("embed")
        .node(
            Node::udf("vector", udf)
                .inputs(["text"])
                .batch_size(number(request, "batch_size")?),
        )
        .outputs(["vector"]);
    let input = Input::path(text(request, "input")?);
    let (seconds, batches) = timed_collect(ctx, pipeline, &input).await?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let first = batches
        .iter()
        .find(|batch| batch.num_rows() > 0)
        .ok_or("no vectors")?;
    let vectors = first.column(0).as_fixed_size_list();
    let probe: Vec<f32> = vectors
        .value(0)
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or("vectors are not Float32")?
        .values()
        .to_vec();
    let latencies = latencies.lock().unwrap().clone();
    Ok(json!({
        "seconds": seconds,
        "rows": rows,
        "checksum": format!("{rows} x {}", vectors.value_length()),
        "latencies": latencies,
        "probe": probe,
    }))
}

/// Parts (partitions) of the `cluster` workload's jobs, here and on a cluster.
const CLUSTER_JOB_PARTS: usize = 4;

/// The `cluster` workload: the text job or `embed` as a pipeline of built-in functions, here
/// (`cluster` None) or on the runner's cluster, whose first executor is killed
/// `kill_after` seconds into the job when the request says so (and replaced once the job
/// is done, outside the time).
async fn cluster_job(
    ctx: &SessionContext,
    request: &Value,
    cluster: Option<&mut LocalCluster>,
) -> Outcome {
    let kill_after = match request.get("kill_after") {
        None => None,
        Some(seconds) => Some(
            seconds
                .as_f64()
                .ok_or_else(|| format!("'kill_after' is not a number of seconds: {request}"))?,
        ),
    };
    let pipeline = match text(request, "job")? {
        "text" => word_pipeline("text")
            .node(Node::sql("is_short", "words < 50"))
            .outputs(["id", "clean", "words", "is_short"]),
        "embed" => Pipeline::new("embed")
            .node(
                Node::function("vector", "embed")
                    .inputs(["text"])
                    .batch_size(number(request, "batch_size")?)
                    .max_concurrency(2),
            )
            .outputs(["text", "vector"]),
        other => return Err(format!("unknown cluster job '{other}'")),
    }
    .partitions(CLUSTER_JOB_PARTS);
    let output = text(request, "output")?;
    let target = Output::parquet(output).mode(nodefusion::WriteMode::Overwrite);
    let started = Instant::now();
    let compiled = pipeline
        .compile(ctx, &Input::path(text(request, "input")?))
        .await
        .map_err(|error| error.to_string())?;
    let summary = match cluster {
        None => compiled.write(&target).await,
        Some(cluster) => {
            if kill_after.is_some() && cluster.executors() < 2 {
                return Ok(json!({"unsupported": true}));
            }
            let runner = nodefusion::cluster::cluster_runner(&cluster.url, &compiled)
                .await
                .map_err(|error| error.to_string())?;
            let run = compiled.write_observed_on(&target, |_| {}, Some(&runner));
            tokio::pin!(run);
            let summary = match kill_after {
                None => run.await,
                Some(seconds) => tokio::select! {
                    summary = &mut run => summary,
                    _ = tokio::time::sleep(Duration::from_secs_f64(seconds)) => {
                        cluster.kill_one();
                        run.await
                    }
                },
            };
            let seconds = started.elapsed().as_secs_f64();
            cluster.restore()?;
            let summary = summary.map_err(|error| error.to_string())?;
            return Ok(json!({"seconds": seconds, "rows": summary.rows_out, "output": output}));
        }
    }
    .map_err(|error| error.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(json!({"seconds": seconds, "rows": summary.rows_out, "output": output}))
}

async fn answer(ctx: &SessionContext, request: &Value, style: NodeStyle) -> Outcome {
    let workload = text(request, "workload")?;
    if style != NodeStyle::Closure && workload != "overhead" {
        return Ok(json!({"unsupported": true}));
    }
    match workload {
        "overhead" => overhead(ctx, request, style).await,
        "text" => text_job(ctx, request).await,
        "builtins" => builtins_job(ctx, request).await,
        "text_builtins" => command_job(request),
        "stateful" => stateful_resource(ctx, request).await,
        "batch_size" => batch_size_sweep(ctx, request).await,
        "io" => io_calls(ctx, request).await,
        "embed" => embed_texts(ctx, request).await,
        "cluster" => cluster_job(ctx, request, None).await,
        other => Err(format!("unknown workload '{other}'")),
    }
}

/// Answers one connection's requests, each after [`SERVICE_DELAY`], until it closes.
async fn serve_connection(mut stream: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut pending = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let Some(end) = pending.windows(4).position(|window| window == b"\r\n\r\n") else {
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&buffer[..read]);
            continue;
        };
        let head = String::from_utf8_lossy(&pending[..end]).into_owned();
        pending.drain(..end + 4);
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let close = head.to_ascii_lowercase().contains("connection: close");
        tokio::time::sleep(SERVICE_DELAY).await;
        let response = match path.strip_prefix("/n/").map(str::parse::<u64>) {
            Some(Ok(k)) => {
                let body = (k * 7 % 1000).to_string();
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
            _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_string(),
        };
        stream.write_all(response.as_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

async fn serve() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(serve_connection(stream));
    }
}

#[tokio::main]
async fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let mut cluster = None;
    let style = match arguments.get(1).map(String::as_str) {
        Some("serve") => {
            serve().await.expect("the io service failed");
            return;
        }
        Some("sql") => NodeStyle::Sql,
        Some("compiled") => NodeStyle::Compiled,
        Some("planned") => NodeStyle::Planned,
        Some("cluster") => {
            let [binary, executors, slots] = [2, 3, 4].map(|index| {
                arguments
                    .get(index)
                    .expect("cluster NODEFUSION EXECUTORS SLOTS")
                    .as_str()
            });
            let dir = std::env::temp_dir()
                .join(format!("nodefusion-bench-cluster-{}", std::process::id()));
            let count = executors.parse().expect("EXECUTORS: a number");
            let slots = slots.parse().expect("SLOTS: a number");
            let started = LocalCluster::start(binary.as_ref(), &dir, count, slots);
            cluster = Some(started.expect("the runner's cluster"));
            NodeStyle::Closure
        }
        _ => NodeStyle::Closure,
    };
    let ctx = new_context().expect("a nodefusion session");
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(request) if text(&request, "workload") == Ok("cluster") => {
                cluster_job(&ctx, &request, cluster.as_mut()).await
            }
            Ok(_) if cluster.is_some() => Ok(json!({"unsupported": true})),
            Ok(request) => answer(&ctx, &request, style).await,
            Err(error) => Err(format!("bad request {line:?}: {error}")),
        };
        let reply = reply.unwrap_or_else(|error| json!({"error": error}));
        println!("{reply}");
        std::io::stdout().flush().expect("stdout");
    }
}
