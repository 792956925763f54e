//! The cost of lifting a row-wise closure: a pipeline whose one node is the closure
//! `|s: &str| s.to_lowercase()` over 1,000,000 generated documents, Parquet to Parquet,
//! against plain DataFusion's `COPY (SELECT id, lower(text) AS text FROM ...) TO ...`,
//! both in the same run. `cargo bench --bench closure_lift`.
//!
//! The documents are generated once (seed 42) into `NODEFUSION_BENCH_DIR` (default: a
//! `nodefusion-bench` folder in the system's temporary directory) and reused.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::prelude::SessionContext;
use nodefusion::{Input, Node, Output, Pipeline, WriteMode, new_context};

const DOCUMENTS: usize = 1_000_000;

fn bench_dir() -> PathBuf {
    let dir = std::env::var_os("NODEFUSION_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("nodefusion-bench"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn documents(dir: &std::path::Path) -> PathBuf {
    let path = dir.join(format!("docs_{DOCUMENTS}.parquet"));
    if !path.exists() {
        nodefusion::datagen::write_docs(DOCUMENTS, 42, None, &path).unwrap();
    }
    path
}

fn closure_lift(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = bench_dir();
    let docs = documents(&dir);

    let pipeline = Pipeline::new("lowercase")
        .node(
            Node::row_fn("lowercase", |s: &str| s.to_lowercase())
                .inputs(["text"])
                .output("lower_text"),
        )
        .outputs(["id", "lower_text"]);
    let compiled = runtime
        .block_on(pipeline.compile(
            &new_context().unwrap(),
            &Input::path(docs.to_string_lossy()),
        ))
        .unwrap();
    let pipeline_output =
        Output::parquet(dir.join("closure_out.parquet")).mode(WriteMode::Overwrite);

    let plain = SessionContext::new();
    let copy_target = dir.join("copy_out.parquet");
    let copy = format!(
        "COPY (SELECT id, lower(text) AS text FROM '{}') TO '{}'",
        docs.display(),
        copy_target.display()
    );
    let plain = plain.enable_url_table();

    let mut group = c.benchmark_group("closure_lift_1m_docs");
    group.sample_size(10);
    group.bench_function("nodefusion_row_closure", |b| {
        b.to_async(&runtime)
            .iter(|| async { compiled.write(&pipeline_output).await.unwrap() });
    });
    group.bench_function("datafusion_copy_lower", |b| {
        b.to_async(&runtime).iter(|| async {
            let _ = std::fs::remove_file(&copy_target);
            plain.sql(&copy).await.unwrap().collect().await.unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, closure_lift);
criterion_main!(benches);
