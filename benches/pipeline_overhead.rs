//! SEEDS.md section 5: the runtime overhead of a pipeline. Chains of 3, 5 and 10 trivial
//! nodes (add a constant, multiply by a constant, pass through) over 10 to 1,000,000 rows,
//! a compiled pipeline run again and again on new input (`run_batches`, no planning); and
//! a one-shot job (`compile`, `compile_and_run`) over 1,000 rows: `planned` (a pipeline
//! not seen before, planning included) and `kept` (the same pipeline built again, whose
//! plan the plan cache kept).
//!
//! Baseline, in the same process: the same arithmetic as direct Arrow kernel calls with no
//! engine at all. `cargo bench --bench pipeline_overhead`; the figures in README come from
//! the `overhead/...` and `kernels/...` lines.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::compute::kernels::numeric::{add, mul};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use nodefusion::{CompiledPipeline, Input, Node, Pipeline, new_context};

const ROWS: [usize; 4] = [10, 100, 1_000, 1_000_000];
const NODES: [usize; 3] = [3, 5, 10];
const BATCH_ROWS: usize = 8192;

fn batches(rows: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    (0..rows)
        .step_by(BATCH_ROWS)
        .map(|start| {
            let end = (start + BATCH_ROWS).min(rows);
            let column: ArrayRef = Arc::new(Int64Array::from_iter_values(start as i64..end as i64));
            RecordBatch::try_new(Arc::clone(&schema), vec![column]).unwrap()
        })
        .collect()
}

/// Node i: add 1, multiply by 2, or pass through, in turn; each reads the one before.
fn chain(nodes: usize, partitions: usize) -> Pipeline {
    named_chain("overhead", nodes, partitions)
}

/// [`chain`] under the pipeline name `name`.
fn named_chain(name: &str, nodes: usize, partitions: usize) -> Pipeline {
    let mut pipeline = Pipeline::new(name)
        .partitions(partitions)
        .batch_size(BATCH_ROWS);
    let mut previous = "x".to_string();
    for index in 0..nodes {
        let output = format!("v{index}");
        let expression = match index % 3 {
            0 => format!("{previous} + 1"),
            1 => format!("{previous} * 2"),
            _ => previous.clone(),
        };
        pipeline = pipeline.node(Node::sql(format!("n{index}"), expression).output(&output));
        previous = output;
    }
    pipeline.outputs([previous])
}

/// The same chain as direct kernel calls.
fn kernels(batches: &[RecordBatch], nodes: usize) -> usize {
    let one = Int64Array::new_scalar(1);
    let two = Int64Array::new_scalar(2);
    let mut rows = 0;
    for batch in batches {
        let mut value = Arc::clone(batch.column(0));
        for index in 0..nodes {
            value = match index % 3 {
                0 => add(&value, &one).unwrap(),
                1 => mul(&value, &two).unwrap(),
                _ => value,
            };
        }
        rows += black_box(value).len();
    }
    rows
}

fn compiled(
    runtime: &tokio::runtime::Runtime,
    nodes: usize,
    partitions: usize,
    sample: &[RecordBatch],
) -> CompiledPipeline {
    let ctx = new_context().unwrap();
    let input = Input::batches(sample[0].schema(), sample.to_vec());
    runtime
        .block_on(chain(nodes, partitions).compile(&ctx, &input))
        .unwrap()
}

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("overhead");
    for &rows in &ROWS {
        let input = batches(rows);
        for &nodes in &NODES {
            group.throughput(Throughput::Elements((rows * nodes) as u64));
            let pipeline = compiled(&runtime, nodes, 1, &input);
            group.bench_with_input(
                BenchmarkId::new(format!("{nodes}_nodes"), rows),
                &input,
                |b, input| {
                    b.to_async(&runtime).iter(|| async {
                        let out = pipeline.run_batches(input.clone()).await.unwrap();
                        black_box(out)
                    });
                },
            );
        }
    }
    group.finish();

    let mut group = c.benchmark_group("kernels");
    for &rows in &ROWS {
        let input = batches(rows);
        for &nodes in &NODES {
            group.throughput(Throughput::Elements((rows * nodes) as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{nodes}_nodes"), rows),
                &input,
                |b, input| {
                    b.iter(|| kernels(input, nodes));
                },
            );
        }
    }
    group.finish();

    let mut group = c.benchmark_group("overhead_two_partitions");
    let input = batches(1_000_000);
    for &nodes in &NODES {
        group.throughput(Throughput::Elements((1_000_000 * nodes) as u64));
        let pipeline = compiled(&runtime, nodes, 2, &input);
        group.bench_with_input(
            BenchmarkId::new(format!("{nodes}_nodes"), 1_000_000),
            &input,
            |b, input| {
                b.to_async(&runtime).iter(|| async {
                    black_box(pipeline.run_batches(input.clone()).await.unwrap())
                });
            },
        );
    }
    group.finish();
}

/// A one-shot job: a pipeline compiled and run once over 1,000 rows, and its compilation
/// alone, from a context made beforehand: `planned`, a pipeline of a new name each time
/// (validation, logical and physical planning, keeping the plan), and `kept`, the same
/// pipeline each time (its kept plan found, only the scan of the new rows made).
fn one_shot(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = new_context().unwrap();
    let sample = batches(1_000);
    let input = Input::batches(sample[0].schema(), sample);
    let runs = std::sync::atomic::AtomicUsize::new(0);
    for (name, run) in [("compile", false), ("compile_and_run", true)] {
        let mut group = c.benchmark_group(name);
        for (plan, kept) in [("planned", false), ("kept", true)] {
            for &nodes in &NODES {
                let id = BenchmarkId::new(format!("{plan}/{nodes}_nodes"), 1_000);
                group.bench_function(id, |b| {
                    b.to_async(&runtime).iter(|| async {
                        let pipeline = match kept {
                            true => chain(nodes, 1),
                            false => {
                                let run = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                named_chain(&format!("overhead{run}"), nodes, 1)
                            }
                        };
                        let compiled = pipeline.compile(&ctx, &input).await.unwrap();
                        if run {
                            black_box(compiled.collect().await.unwrap());
                        }
                        black_box(compiled)
                    });
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, overhead, one_shot);
criterion_main!(benches);
