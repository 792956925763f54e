//! SEEDS.md sections 1, 2 and 4 on the node operator. A plain harness (runs of many
//! seconds each do not suit criterion's sampling): every figure is the median of a few
//! runs, and every ratio compares two configurations measured in this same process.
//!
//! 1. stateful: a resource whose set-up takes 0.5 s, built once per batch (a plain
//!    vectorized function that sets itself up on every call) versus once per partition
//!    (a stateful node), over 5,000 and 50,000 rows;
//! 2. batch size: `normalize_text` then `word_count` over 50,000 generated documents at
//!    batch sizes 128 to 8192;
//! 3. async: a per-row call that takes 10 ms, 2,000 rows, at max_concurrency 1, 4, 16, 64.
//!
//! `cargo bench --bench node_kinds` (`-- quick` for one run per figure).

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "shared/resource.rs"]
mod resource;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use nodefusion::datagen::{SplitMix64, docs_batch};
use nodefusion::{Input, Node, Pipeline, new_context};
use nodefusion_function::{CallError, UserFunction, async_per_row, stateful};
use resource::Resource;

fn runs() -> usize {
    if std::env::args().any(|arg| arg == "quick") {
        1
    } else {
        3
    }
}

async fn median_seconds(pipeline: impl Fn() -> Pipeline, input: &Input) -> f64 {
    let ctx = new_context().unwrap();
    let mut times = Vec::new();
    for _ in 0..runs() {
        let compiled = pipeline().compile(&ctx, input).await.unwrap();
        let started = Instant::now();
        let batches = compiled.collect().await.unwrap();
        std::hint::black_box(batches);
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn numbers(rows: usize) -> Input {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let column: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
    Input::batches(
        Arc::clone(&schema),
        vec![RecordBatch::try_new(schema, vec![column]).unwrap()],
    )
}

async fn stateful_versus_per_batch() {
    println!("## stateful: a 0.5 s set-up, batch_size 1024, 2 partitions");
    println!("| rows | set up per batch (s) | once per partition (s) | ratio |");
    println!("| ---: | ---: | ---: | ---: |");
    for rows in [5_000, 50_000] {
        let input = numbers(rows);
        let per_batch = median_seconds(
            || {
                let udf = UserFunction::vectorized(
                    "per_batch",
                    vec![DataType::Int64],
                    DataType::Int64,
                    |args| Resource::set_up().apply(args),
                );
                Pipeline::new("per_batch")
                    .node(Node::udf("resource", udf.into_udf()).inputs(["x"]))
                    .batch_size(1024)
                    .partitions(2)
            },
            &input,
        )
        .await;
        let per_partition = median_seconds(
            || {
                let udf = stateful(
                    "per_partition",
                    vec![DataType::Int64],
                    DataType::Int64,
                    |_| Ok(Resource::set_up()),
                );
                Pipeline::new("per_partition")
                    .node(Node::udf("resource", udf).inputs(["x"]))
                    .batch_size(1024)
                    .partitions(2)
            },
            &input,
        )
        .await;
        println!(
            "| {rows} | {per_batch:.2} | {per_partition:.2} | {:.1}x |",
            per_batch / per_partition
        );
    }
}

async fn batch_size_sweep() {
    let rows = 50_000;
    let mut rng = SplitMix64::new(42);
    let batches: Vec<RecordBatch> = (0..rows)
        .step_by(8192)
        .map(|start| docs_batch(&mut rng, start as i64, 8192.min(rows - start), None).unwrap())
        .collect();
    let input = Input::batches(batches[0].schema(), batches);
    println!("\n## batch size: normalize_text -> word_count over {rows} documents, 2 partitions");
    println!("| batch_size | seconds | rows/s | vs 128 |");
    println!("| ---: | ---: | ---: | ---: |");
    let mut first = None;
    for batch_size in [128, 512, 1024, 2048, 4096, 8192] {
        let seconds = median_seconds(
            || {
                Pipeline::new("sweep")
                    .node(Node::function("clean", "normalize_text").inputs(["text"]))
                    .node(Node::function("words", "word_count").inputs(["clean"]))
                    .outputs(["id", "words"])
                    .batch_size(batch_size)
                    .partitions(2)
            },
            &input,
        )
        .await;
        let base = *first.get_or_insert(seconds);
        println!(
            "| {batch_size} | {seconds:.3} | {:.0} | {:.2}x |",
            rows as f64 / seconds,
            base / seconds
        );
    }
}

async fn async_concurrency() {
    let rows = 2_000;
    let input = numbers(rows);
    println!("\n## async: a 10 ms call per row, {rows} rows");
    println!("| max_concurrency | seconds | speedup over 1 | efficiency |");
    println!("| ---: | ---: | ---: | ---: |");
    let mut first = None;
    for max_concurrency in [1, 4, 16, 64] {
        let seconds = median_seconds(
            || {
                let call = async_per_row(
                    "ten_ms",
                    vec![DataType::Int64],
                    DataType::Int64,
                    |args| async move {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        Ok::<ScalarValue, CallError>(args[0].clone())
                    },
                );
                Pipeline::new("io")
                    .node(
                        Node::udf("call", call)
                            .inputs(["x"])
                            .max_concurrency(max_concurrency),
                    )
                    .partitions(2)
            },
            &input,
        )
        .await;
        let base = *first.get_or_insert(seconds);
        let speedup = base / seconds;
        println!(
            "| {max_concurrency} | {seconds:.3} | {speedup:.1}x | {:.0} % |",
            100.0 * speedup / max_concurrency as f64
        );
    }
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        stateful_versus_per_batch().await;
        batch_size_sweep().await;
        async_concurrency().await;
    });
}
