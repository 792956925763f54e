//! Stateful and async nodes: one instance per partition, exact batch sizes, calls in
//! flight bounded by max_concurrency against a real HTTP service, timeouts, retries,
//! on_error, SQL with the same operator, session options, and token_count with the real
//! all-MiniLM-L6-v2 tokenizer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{column_text, ids, rows_text, service};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::kernels::numeric::{add, mul};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use nodefusion::settings::{BatchSize, OnError};
use nodefusion::{Error, FailedRow, Input, Node, Output, Pipeline, new_context};
use nodefusion_function::{CallError, FunctionInstance, async_per_batch, async_per_row, stateful};

/// A stateful doubler that counts the instances built and records every batch size.
struct Doubler {
    sizes: Arc<Mutex<Vec<usize>>>,
}

impl FunctionInstance for Doubler {
    fn process(&mut self, args: &[ArrayRef]) -> datafusion::common::Result<ArrayRef> {
        self.sizes.lock().unwrap().push(args[0].len());
        Ok(mul(&args[0], &Int64Array::new_scalar(2))?)
    }
}

#[derive(Clone, Default)]
struct Probe {
    built: Arc<AtomicUsize>,
    sizes: Arc<Mutex<Vec<usize>>>,
}

impl Probe {
    fn doubler(&self) -> ScalarUDF {
        let probe = self.clone();
        stateful(
            "double_it",
            vec![DataType::Int64],
            DataType::Int64,
            move |_| {
                probe.built.fetch_add(1, Ordering::SeqCst);
                Ok(Doubler {
                    sizes: Arc::clone(&probe.sizes),
                })
            },
        )
    }

    fn built(&self) -> usize {
        self.built.load(Ordering::SeqCst)
    }
}

fn numbers(rows: usize, batches: usize) -> Input {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Int64, true),
    ]));
    let per_batch = rows.div_ceil(batches);
    let data = (0..rows)
        .step_by(per_batch)
        .map(|start| {
            let end = (start + per_batch).min(rows);
            let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(start as i64..end as i64));
            let xs: ArrayRef = Arc::new(Int64Array::from_iter(
                (start..end).map(|i| (i % 11 != 5).then_some(i as i64 * 3)),
            ));
            RecordBatch::try_new(Arc::clone(&schema), vec![ids, xs]).unwrap()
        })
        .collect();
    Input::batches(schema, data)
}

#[tokio::test]
async fn instances_built_are_one_per_partition_up_to_max_concurrency() {
    let ctx = new_context().unwrap();
    for input_batches in [1, 500] {
        for partitions in [1, 2, 4] {
            for max_concurrency in [1, 2, 8] {
                let probe = Probe::default();
                let pipeline = Pipeline::new("p")
                    .node(
                        Node::udf("double", probe.doubler())
                            .inputs(["x"])
                            .batch_size(4)
                            .max_concurrency(max_concurrency),
                    )
                    .partitions(partitions);
                let compiled = pipeline
                    .compile(&ctx, &numbers(2000, input_batches))
                    .await
                    .unwrap();
                let out = compiled.collect().await.unwrap();
                assert_eq!(ids(&out).len(), 2000);
                assert_eq!(
                    probe.built(),
                    partitions.min(max_concurrency),
                    "{input_batches} input batches, {partitions} partitions, max_concurrency {max_concurrency}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_batch_the_function_sees_has_batch_size_rows_but_the_last() {
    let ctx = new_context().unwrap();
    for partitions in [1, 3] {
        let probe = Probe::default();
        let pipeline = Pipeline::new("p")
            .node(
                Node::udf("double", probe.doubler())
                    .inputs(["x"])
                    .batch_size(64),
            )
            .partitions(partitions);
        let compiled = pipeline.compile(&ctx, &numbers(1000, 7)).await.unwrap();
        compiled.collect().await.unwrap();
        let mut sizes = probe.sizes.lock().unwrap().clone();
        sizes.sort_unstable();
        let mut expected = vec![64; 15];
        expected.insert(0, 40);
        assert_eq!(sizes, expected, "{partitions} partitions");
    }
}

fn add_one_later() -> ScalarUDF {
    async_per_row(
        "add_one_later",
        vec![DataType::Int64],
        DataType::Int64,
        |args| async move {
            let ScalarValue::Int64(Some(x)) = args[0] else {
                return Err(CallError::permanent("expected an integer"));
            };
            tokio::time::sleep(Duration::from_micros((x % 7) as u64 * 50)).await;
            Ok(ScalarValue::Int64(Some(x + 1)))
        },
    )
}

fn add_ten_per_batch() -> ScalarUDF {
    async_per_batch(
        "add_ten",
        vec![DataType::Int64],
        DataType::Int64,
        |args| async move {
            tokio::task::yield_now().await;
            add(&args[0], &Int64Array::new_scalar(10))
                .map_err(|e| CallError::permanent(e.to_string()))
        },
    )
}

#[tokio::test]
async fn output_does_not_depend_on_batch_size_concurrency_or_partitions() {
    let ctx = new_context().unwrap();
    let probe = Probe::default();
    let pipeline = |batch_size: usize, max_concurrency: usize, partitions: usize| {
        Pipeline::new("p")
            .node(Node::udf("doubled", probe.doubler()).inputs(["x"]))
            .node(Node::udf("later", add_one_later()).inputs(["doubled"]))
            .node(Node::udf("batched", add_ten_per_batch()).inputs(["later"]))
            .node(Node::sql("sum", "batched + id"))
            .batch_size(batch_size)
            .max_concurrency(max_concurrency)
            .partitions(partitions)
    };
    let input = numbers(300, 4);
    let expected = rows_text(
        &pipeline(8192, 1, 1)
            .compile(&ctx, &input)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    assert_eq!(expected.len(), 300);
    assert_eq!(expected[1], "1|3|6|7|17|18");
    assert_eq!(expected[5], "5|NULL|NULL|NULL|NULL|NULL");
    for batch_size in [1, 7, 64, 8192] {
        for max_concurrency in [1, 2, 8] {
            for partitions in [1, 2, 4] {
                let compiled = pipeline(batch_size, max_concurrency, partitions)
                    .compile(&ctx, &input)
                    .await
                    .unwrap();
                assert_eq!(
                    rows_text(&compiled.collect().await.unwrap()),
                    expected,
                    "batch_size {batch_size}, max_concurrency {max_concurrency}, partitions {partitions}"
                );
            }
        }
    }
}

fn urls(base: &str, route: &str, rows: usize) -> Input {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("url", DataType::Utf8, false),
    ]));
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
    let urls: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..rows).map(|i| format!("{base}/{route}/{i}")),
    ));
    Input::batches(
        Arc::clone(&schema),
        vec![RecordBatch::try_new(schema, vec![ids, urls]).unwrap()],
    )
}

fn fetch(max_concurrency: usize) -> Pipeline {
    Pipeline::new("fetch")
        .node(
            Node::function("fetch", "http_get")
                .inputs(["url"])
                .max_concurrency(max_concurrency),
        )
        .node(Node::sql("status", "fetch['status']"))
        .node(Node::sql("body", "fetch['body']"))
        .outputs(["id", "status", "body"])
        .partitions(2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_reach_max_concurrency_and_never_exceed_it() {
    let ctx = new_context().unwrap();
    for max_concurrency in [4, 16] {
        let (base, log) = service::start().await;
        let compiled = fetch(max_concurrency)
            .compile(&ctx, &urls(&base, "delay/20", 200))
            .await
            .unwrap();
        let out = compiled.collect().await.unwrap();
        assert_eq!(
            column_text(&out, "body"),
            (0..200).map(|i| i.to_string()).collect::<Vec<_>>()
        );
        assert!(column_text(&out, "status").iter().all(|s| s == "200"));
        assert_eq!(log.most_in_flight(), max_concurrency);
    }
}

/// `batch_size = "auto"`: the function sees calls of the sizes the tuning tries (powers of
/// two up to 1,024 rows, the end of a batch aside), the rows come out as with any fixed size,
/// a failing row is still named by its input position, and the summary says what was chosen.
#[tokio::test]
async fn auto_batch_size_tries_call_sizes_and_keeps_the_results_and_row_positions() {
    let input = || numbers(20_000, 9);
    let probe = Probe::default();
    let auto = Pipeline::new("p")
        .node(
            Node::udf("double", probe.doubler())
                .inputs(["x"])
                .batch_size(BatchSize::Auto),
        )
        .partitions(2);
    let summary = write_summary(auto.clone(), &input()).await.unwrap();
    let sizes = probe.sizes.lock().unwrap().clone();
    assert_eq!(sizes.iter().sum::<usize>(), 20_000);
    assert!(sizes.iter().all(|&size| size <= 1024), "{sizes:?}");
    assert!(sizes.contains(&8) && sizes.contains(&16), "{sizes:?}");
    let tuned = summary.nodes[0].tuned_batch_size;
    assert!(
        tuned.is_power_of_two() && (8..=1024).contains(&tuned),
        "{summary}"
    );
    assert!(
        summary
            .to_string()
            .contains(&format!("batch size {tuned} (auto)"))
    );

    let ctx = new_context().unwrap();
    let fixed = Pipeline::new("p")
        .node(
            Node::udf("double", Probe::default().doubler())
                .inputs(["x"])
                .batch_size(100),
        )
        .partitions(3);
    let rows = |pipeline: Pipeline| {
        let ctx = ctx.clone();
        async move {
            let compiled = pipeline.compile(&ctx, &input()).await.unwrap();
            rows_text(&compiled.collect().await.unwrap())
        }
    };
    assert_eq!(rows(auto).await, rows(fixed).await);

    let picky = stateful("picky", vec![DataType::Int64], DataType::Int64, |_| {
        Ok(Picky)
    });
    let failing = Pipeline::new("p")
        .node(
            Node::udf("check", picky)
                .inputs(["x"])
                .batch_size(BatchSize::Auto),
        )
        .partitions(2);
    let error = write_summary(failing, &numbers(3000, 3)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "node 'check' (picky) failed on input row 2500: 7500 is not welcome"
    );
}

async fn write_summary(
    pipeline: Pipeline,
    input: &Input,
) -> nodefusion::Result<nodefusion::RunSummary> {
    let dir = tempfile::tempdir().unwrap();
    let compiled = pipeline.compile(&new_context().unwrap(), input).await?;
    compiled
        .write(&Output::parquet(dir.path().join("out.parquet")))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_counted_and_nothing_is_lost() {
    let (base, log) = service::start().await;
    let summary = write_summary(fetch(8), &urls(&base, "flaky/2", 30))
        .await
        .unwrap();
    assert_eq!(summary.rows_out, 30);
    let fetch_node = &summary.nodes[0];
    assert_eq!((fetch_node.retries, fetch_node.failed_rows), (60, 0));
    assert_eq!(log.requests(), 90);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_its_retry_after() {
    let (base, log) = service::start().await;
    let started = Instant::now();
    let ctx = new_context().unwrap();
    let out = fetch(4)
        .compile(&ctx, &urls(&base, "limited", 3))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(column_text(&out, "status"), vec!["200", "200", "200"]);
    assert!(started.elapsed() >= Duration::from_secs(1));
    for id in 0..3 {
        assert!(
            log.time_to_answer(&format!("/limited/{id}")).unwrap() >= Duration::from_millis(990)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_with_on_error_null_give_nulls_and_count_failed_rows() {
    let (base, _log) = service::start().await;
    let pipeline = Pipeline::new("slow")
        .node(
            Node::function("fetch", "http_get")
                .inputs(["url"])
                .timeout_ms(50)
                .max_retries(1)
                .on_error(OnError::Null),
        )
        .outputs(["id", "fetch"]);
    let summary = write_summary(pipeline, &urls(&base, "delay/3000", 5))
        .await
        .unwrap();
    assert_eq!(summary.rows_out, 5);
    assert_eq!(
        (summary.nodes[0].failed_rows, summary.nodes[0].retries),
        (5, 5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_call_fails_the_run_naming_node_function_and_row() {
    let (base, _log) = service::start().await;
    let pipeline = Pipeline::new("broken")
        .node(
            Node::function("fetch", "http_get")
                .inputs(["url"])
                .max_retries(0),
        )
        .outputs(["id", "fetch"]);
    let error = write_summary(pipeline, &urls(&base, "fail", 3))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "node 'fetch' (http_get) failed on input row 0: HTTP 500 Internal Server Error"
        ),
        "{error}"
    );
}

/// Fails on the rows whose value is 7500 (input row 2500).
struct Picky;

impl FunctionInstance for Picky {
    fn process(&mut self, args: &[ArrayRef]) -> datafusion::common::Result<ArrayRef> {
        let values = datafusion::common::cast::as_int64_array(&args[0])?;
        if values.iter().any(|v| v == Some(7500)) {
            return datafusion::common::exec_err!("7500 is not welcome");
        }
        Ok(Arc::clone(&args[0]))
    }
}

#[tokio::test]
async fn stateful_failures_name_the_input_row_or_null_only_that_row() {
    let picky = || {
        stateful("picky", vec![DataType::Int64], DataType::Int64, |_| {
            Ok(Picky)
        })
    };
    let pipeline = |on_error| {
        Pipeline::new("p")
            .node(
                Node::udf("check", picky())
                    .inputs(["x"])
                    .batch_size(100)
                    .on_error(on_error),
            )
            .partitions(2)
    };
    let error = write_summary(pipeline(OnError::Fail), &numbers(3000, 3))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "node 'check' (picky) failed on input row 2500: 7500 is not welcome"
    );
    let Error::Node(failure) = error else {
        panic!("not a node error: {error:?}");
    };
    assert_eq!(
        (
            failure.node.as_str(),
            failure.function.as_str(),
            failure.row
        ),
        ("check", "picky", FailedRow::Input(2500))
    );

    let summary = write_summary(pipeline(OnError::Null), &numbers(3000, 3))
        .await
        .unwrap();
    assert_eq!((summary.rows_out, summary.nodes[0].failed_rows), (3000, 1));
    let compiled = pipeline(OnError::Null)
        .compile(&new_context().unwrap(), &numbers(3000, 3))
        .await
        .unwrap();
    let checks = column_text(&compiled.collect().await.unwrap(), "check");
    assert_eq!(checks[2500], "NULL");
    assert_eq!(checks[2501], "7503");
}

#[tokio::test]
async fn a_sql_node_calling_a_stateful_function_runs_it_with_the_nodes_own_settings() {
    let ctx = new_context().unwrap();
    sql_text(&ctx, "SET nodefusion.batch_size = 100").await;
    let probe = Probe::default();
    ctx.register_udf(probe.doubler());
    let pipeline = Pipeline::new("p")
        .node(
            Node::sql("doubled", "double_it(x) + 1")
                .batch_size(16)
                .max_concurrency(1),
        )
        .outputs(["id", "doubled"])
        .partitions(3);
    let compiled = pipeline.compile(&ctx, &numbers(200, 3)).await.unwrap();
    let plan = datafusion::physical_plan::displayable(compiled.physical_plan().as_ref())
        .indent(true)
        .to_string();
    assert!(
        plan.contains("NodeExec: doubled=double_it(x@1) batch_size=16 max_concurrency=1"),
        "{plan}"
    );
    let out = compiled.collect().await.unwrap();
    assert_eq!(ids(&out), (0..200).collect::<Vec<i64>>());
    let expected: Vec<String> = (0..200)
        .map(|i| match i % 11 {
            5 => "NULL".to_string(),
            _ => (i * 6 + 1).to_string(),
        })
        .collect();
    assert_eq!(column_text(&out, "doubled"), expected);
    assert_eq!(probe.built(), 1, "max_concurrency 1: one instance");
    let mut sizes = probe.sizes.lock().unwrap().clone();
    sizes.sort_unstable();
    assert_eq!(sizes, [vec![8], vec![16; 12]].concat());
}

#[tokio::test]
async fn the_summary_reports_instances_and_init_time() {
    let probe = Probe::default();
    let pipeline = Pipeline::new("p")
        .node(
            Node::udf("double", probe.doubler())
                .inputs(["x"])
                .batch_size(10),
        )
        .partitions(2);
    let summary = write_summary(pipeline, &numbers(100, 1)).await.unwrap();
    let node = &summary.nodes[0];
    assert_eq!(
        (node.node.as_str(), node.rows, node.instances_built),
        ("double", 100, 2)
    );
    assert!(
        summary.to_string().contains("instances 2 (init"),
        "{summary}"
    );
}

async fn sql_text(ctx: &SessionContext, query: &str) -> Vec<String> {
    rows_text(&ctx.sql(query).await.unwrap().collect().await.unwrap())
}

#[tokio::test]
async fn sql_calls_run_in_the_node_operator_with_session_options() {
    let ctx = new_context().unwrap();
    let probe = Probe::default();
    ctx.register_udf(probe.doubler());
    ctx.sql("CREATE TABLE t AS SELECT value AS x FROM generate_series(1, 1000)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    sql_text(&ctx, "SET nodefusion.batch_size = 100").await;
    sql_text(&ctx, "SET nodefusion.double_it.max_concurrency = 1").await;
    let plan = sql_text(&ctx, "EXPLAIN SELECT x, double_it(x) AS d FROM t")
        .await
        .join("\n");
    assert!(
        plan.contains("NodeExec: double_it(t.x)=double_it("),
        "{plan}"
    );
    assert!(plan.contains("batch_size=100 max_concurrency=1"), "{plan}");
    assert_eq!(
        sql_text(&ctx, "SELECT sum(double_it(x)) AS s, count(*) AS n FROM t").await,
        vec!["1001000|1000"]
    );
    assert_eq!(probe.built(), 1);
    let sizes = probe.sizes.lock().unwrap().clone();
    assert!(sizes.iter().all(|&size| size <= 100), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 1000);

    sql_text(&ctx, "SET nodefusion.double_it.batch_size = 250").await;
    let plan = sql_text(&ctx, "EXPLAIN SELECT double_it(x) FROM t")
        .await
        .join("\n");
    assert!(plan.contains("batch_size=250 max_concurrency=1"), "{plan}");
    let analyzed = sql_text(&ctx, "EXPLAIN ANALYZE SELECT double_it(x) FROM t")
        .await
        .join("\n");
    for metric in [
        "instances_built=1",
        "batches=",
        "rows=1.00 K",
        "compute_time=",
        "init_time=",
    ] {
        assert!(
            analyzed.contains(metric),
            "{metric} missing from {analyzed}"
        );
    }
    let error = ctx
        .sql("SET nodefusion.batch_size = 0")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("batch_size must be between 1 and 16777216 rows or 'auto', got 0"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_functions_work_in_sql() {
    let (base, _log) = service::start().await;
    let ctx = new_context().unwrap();
    let rows = sql_text(
        &ctx,
        &format!(
            "SELECT r['status'] AS status, r['body'] AS body FROM (SELECT http_post_json('{base}/echo', '{{\"a\": 1}}') AS r \
             UNION ALL SELECT http_get('{base}/delay/1/x'))  ORDER BY body"
        ),
    )
    .await;
    assert_eq!(rows, vec!["200|x", "200|{\"a\": 1}"]);
    let error = ctx
        .sql(&format!("SELECT http_post_json('{base}/echo', 'not json')"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("body is not JSON"), "{error}");
}

#[tokio::test]
async fn configuration_layers_node_over_pipeline_over_session_over_function_default() {
    let ctx = new_context().unwrap();
    sql_text(&ctx, "SET nodefusion.batch_size = 48").await;
    sql_text(&ctx, "SET nodefusion.double_it.max_concurrency = 3").await;
    let probe = Probe::default();
    let settings = |pipeline: Pipeline| {
        let ctx = ctx.clone();
        async move {
            let compiled = pipeline.compile(&ctx, &numbers(10, 1)).await.unwrap();
            let node = &compiled.graph().nodes[0];
            (
                node.settings.batch_size.rows(),
                node.settings.max_concurrency,
            )
        }
    };
    let node = || Node::udf("double", probe.doubler()).inputs(["x"]);
    assert_eq!(
        settings(Pipeline::new("p").node(node())).await,
        (48, Some(3))
    );
    assert_eq!(
        settings(
            Pipeline::new("p")
                .node(node())
                .batch_size(20)
                .max_concurrency(2)
        )
        .await,
        (20, Some(2))
    );
    assert_eq!(
        settings(Pipeline::new("p").node(node().batch_size(5)).batch_size(20)).await,
        (5, Some(3))
    );
    let bare = new_context().unwrap();
    let compiled = Pipeline::new("p")
        .node(Node::function("tokens", "token_count").inputs(["text"]))
        .compile(&bare, &Input::path("data/docs.parquet"))
        .await
        .unwrap();
    assert_eq!(
        compiled.graph().nodes[0].settings.batch_size.rows(),
        nodefusion::settings::DEFAULT_BATCH_SIZE,
        "no layer sets it: the built-in"
    );
}

#[derive(serde::Deserialize)]
struct TokenCountCase {
    text: String,
    tokens: i64,
}

#[tokio::test]
async fn token_count_matches_the_python_tokenizer() {
    let fixture = std::fs::read_to_string("tests/fixtures/token_counts.json").unwrap();
    let cases: Vec<TokenCountCase> = serde_json::from_str(&fixture).unwrap();
    let ctx = new_context().unwrap();
    let texts: ArrayRef = Arc::new(StringArray::from_iter_values(
        cases.iter().map(|c| c.text.clone()),
    ));
    let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![texts]).unwrap();
    let pipeline = Pipeline::new("tokens")
        .node(
            Node::function("tokens", "token_count")
                .inputs(["text"])
                .batch_size(5),
        )
        .partitions(2);
    let compiled = pipeline
        .compile(&ctx, &Input::batches(schema, vec![batch.clone()]))
        .await
        .unwrap();
    let counts = column_text(&compiled.collect().await.unwrap(), "tokens");
    let expected: Vec<String> = cases.iter().map(|c| c.tokens.to_string()).collect();
    assert_eq!(counts, expected);

    ctx.register_batch("texts", batch).unwrap();
    let by_name = sql_text(
        &ctx,
        "SELECT token_count(text, 'sentence-transformers/all-MiniLM-L6-v2') = token_count(text) FROM texts",
    )
    .await;
    assert!(by_name.iter().all(|same| same == "true"));
    let error = ctx
        .sql("SELECT token_count('x', 'no-such-model')")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("model 'no-such-model' not found"), "{error}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8))]

    /// `http_get` against a real local service over generated URL columns (NULLs, every
    /// string layout): no panic, and the same answers for any batch size, concurrency and
    /// partition count.
    #[test]
    fn http_get_answers_the_same_for_any_layout_and_batch_split(
        paths in proptest::collection::vec(proptest::option::weighted(0.8, "[a-z0-9]{0,10}"), 0..30),
        batch_size in 1usize..8,
        max_concurrency in 1usize..6,
        partitions in 1usize..4,
        view in proptest::prelude::any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let answers = runtime.block_on(async {
            let (base, _) = service::start().await;
            let urls: ArrayRef = Arc::new(StringArray::from_iter(
                paths.iter().map(|path| path.as_ref().map(|path| format!("{base}/delay/0/{path}"))),
            ));
            let layout = if view { DataType::Utf8View } else { DataType::LargeUtf8 };
            let mut answers = Vec::new();
            for (column, batch, concurrency, parts) in [
                (Arc::clone(&urls), 64, 1, 1),
                (datafusion::arrow::compute::cast(&urls, &layout).unwrap(), batch_size, max_concurrency, partitions),
            ] {
                let schema = Arc::new(Schema::new(vec![Field::new("url", column.data_type().clone(), true)]));
                let input = Input::batches(
                    Arc::clone(&schema),
                    vec![RecordBatch::try_new(schema, vec![column]).unwrap()],
                );
                let pipeline = Pipeline::new("fetch")
                    .node(Node::function("fetch", "http_get").inputs(["url"]).max_concurrency(concurrency).batch_size(batch))
                    .node(Node::sql("body", "fetch['body']"))
                    .outputs(["body"])
                    .partitions(parts);
                let compiled = pipeline.compile(&new_context().unwrap(), &input).await.unwrap();
                answers.push(rows_text(&compiled.collect().await.unwrap()));
            }
            answers
        });
        proptest::prop_assert_eq!(answers[0].len(), paths.len());
        proptest::prop_assert_eq!(&answers[0], &answers[1]);
    }
}
