//! Isolated nodes, the kind Python nodes are, with a function of the test's own whose
//! instances compute on threads: instances per partition up to `max_concurrency` (one for
//! a function whose calls overlap), torn down before the run returns; the rows a call
//! names as failed are input rows, nulled under `on_error = "null"`; results do not depend
//! on batch size or partitions. And pipeline files' Python nodes without the Python
//! package: an error that says how to run them, unless a native equal runs instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result;
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};
use nodefusion::config::{Overrides, load};
use nodefusion::{Error, FailedRow, Input, Node, Pipeline, new_context};
use nodefusion_function::{
    Computed, FunctionMeta, InitOptions, IsolatedFunction, IsolatedInstance, IsolationOptions,
    OperatorFunction, RowFailure,
};
use tokio::sync::oneshot;

use crate::support::ids;

/// Negates its argument on a thread of the instance's own; a negative value fails its row.
#[derive(Debug)]
struct Negate {
    signature: Signature,
    overlapping: bool,
    built: Arc<AtomicUsize>,
    torn_down: Arc<AtomicUsize>,
}

struct NegateInstance {
    torn_down: Arc<AtomicUsize>,
}

fn negate(values: &Int64Array) -> Computed {
    let failures = (0..values.len())
        .filter(|row| values.is_valid(*row) && values.value(*row) < 0)
        .map(|row| RowFailure {
            row,
            message: format!("{} is negative", values.value(row)),
        })
        .collect();
    let negated: Int64Array = values
        .iter()
        .map(|v| v.filter(|v| *v >= 0).map(|v| -v))
        .collect();
    Computed {
        values: Arc::new(negated),
        failures,
    }
}

impl FunctionMeta for Negate {
    fn name(&self) -> &str {
        "negate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
}

#[async_trait]
impl IsolatedFunction for Negate {
    async fn init(
        &self,
        _options: &InitOptions,
        _isolation: &IsolationOptions,
    ) -> Result<Box<dyn IsolatedInstance>> {
        self.built.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(NegateInstance {
            torn_down: Arc::clone(&self.torn_down),
        }))
    }

    fn concurrent_calls(&self) -> bool {
        self.overlapping
    }

    fn origin(&self) -> String {
        "test negate".to_string()
    }
}

#[async_trait]
impl IsolatedInstance for NegateInstance {
    async fn process(&mut self, args: &[ArrayRef]) -> Result<Computed> {
        let values = args[0].as_any().downcast_ref::<Int64Array>().cloned();
        let (reply, replied) = oneshot::channel();
        std::thread::spawn(move || {
            let _ = reply.send(values.map(|values| negate(&values)));
        });
        replied.await.ok().flatten().ok_or_else(|| {
            datafusion::common::DataFusionError::Execution("not an Int64 array".to_string())
        })
    }

    async fn teardown(&mut self) -> Result<()> {
        self.torn_down.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Default)]
struct Counts {
    built: Arc<AtomicUsize>,
    torn_down: Arc<AtomicUsize>,
}

impl Counts {
    fn udf(&self, overlapping: bool) -> ScalarUDF {
        OperatorFunction::Isolated(Arc::new(Negate {
            signature: Signature::exact(vec![DataType::Int64], Volatility::Volatile),
            overlapping,
            built: Arc::clone(&self.built),
            torn_down: Arc::clone(&self.torn_down),
        }))
        .into_udf()
    }
}

/// `rows` rows `id` and `x = id`, except that row `negative` holds `-id`.
fn input(rows: i64, negative: &[i64]) -> Input {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Int64, true),
    ]));
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
    let x: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..rows).map(|id| if negative.contains(&id) { -id } else { id }),
    ));
    Input::batches(
        Arc::clone(&schema),
        vec![RecordBatch::try_new(schema, vec![id, x]).unwrap()],
    )
}

fn negated(batches: &[RecordBatch]) -> Vec<Option<i64>> {
    batches
        .iter()
        .flat_map(|batch| {
            let column = batch.column_by_name("negated").unwrap();
            let values = column.as_any().downcast_ref::<Int64Array>().unwrap();
            values.iter().collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn instances_are_one_per_partition_and_torn_down_before_the_run_returns() {
    let ctx = new_context().unwrap();
    for (partitions, max_concurrency, overlapping, instances) in [
        (1, 4, false, 1),
        (3, 8, false, 3),
        (4, 2, false, 2),
        (4, 8, true, 1),
    ] {
        for batch_size in [1, 7, 100] {
            let counts = Counts::default();
            let pipeline = Pipeline::new("p")
                .node(
                    Node::udf("negated", counts.udf(overlapping))
                        .inputs(["x"])
                        .batch_size(batch_size)
                        .max_concurrency(max_concurrency),
                )
                .partitions(partitions);
            let out = pipeline
                .compile(&ctx, &input(500, &[]))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let case = format!("{partitions} partitions, batches of {batch_size}");
            assert_eq!(ids(&out), (0..500).collect::<Vec<_>>(), "{case}");
            let expected: Vec<Option<i64>> = (0..500).map(|id| Some(-id)).collect();
            assert_eq!(negated(&out), expected, "{case}");
            assert_eq!(counts.built.load(Ordering::SeqCst), instances, "{case}");
            assert_eq!(counts.torn_down.load(Ordering::SeqCst), instances, "{case}");
        }
    }
}

#[tokio::test]
async fn a_failed_row_is_named_by_its_input_row_or_nulled_and_counted() {
    let ctx = new_context().unwrap();
    let counts = Counts::default();
    let node = || {
        Node::udf("negated", counts.udf(false))
            .inputs(["x"])
            .batch_size(16)
    };
    let failing = Pipeline::new("p").node(node()).partitions(3);
    let error = failing
        .compile(&ctx, &input(200, &[77, 150]))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    let Error::Node(failure) = error else {
        panic!("not a node's failure: {error}");
    };
    assert_eq!(failure.node, "negated");
    assert_eq!(failure.function, "negate");
    assert!(
        failure.row == FailedRow::Input(77) || failure.row == FailedRow::Input(150),
        "{failure}"
    );
    assert!(failure.cause.ends_with("is negative"), "{failure}");

    let nulled = Pipeline::new("p")
        .node(node().on_error(nodefusion::settings::OnError::Null))
        .partitions(3);
    let (out, summary) = nulled
        .compile(&ctx, &input(200, &[77, 150]))
        .await
        .unwrap()
        .collect_with_summary()
        .await
        .unwrap();
    let values = negated(&out);
    assert_eq!(values[77], None);
    assert_eq!(values[150], None);
    assert_eq!(values[76], Some(-76));
    assert_eq!(summary.nodes[0].failed_rows, 2);
}

#[tokio::test]
async fn explain_names_where_an_isolated_functions_code_comes_from() {
    let ctx = new_context().unwrap();
    let counts = Counts::default();
    let pipeline = Pipeline::new("p").node(Node::udf("negated", counts.udf(false)).inputs(["x"]));
    let compiled = pipeline.compile(&ctx, &input(3, &[])).await.unwrap();
    let text = nodefusion::explain::explain(&compiled);
    assert!(
        text.contains("negated: negate(x) -> negated  [test negate, batch_size=8192]"),
        "{text}"
    );
    assert!(text.contains("isolation=thread (test negate)"), "{text}");
}

fn pipeline_file(directory: &std::path::Path, node: &str) -> std::path::PathBuf {
    let path = directory.join("p.toml");
    std::fs::write(&path, format!("[[nodes]]\nname = \"n\"\n{node}")).unwrap();
    path
}

#[tokio::test]
async fn a_python_node_without_the_python_package_says_how_to_run_it() {
    let directory = tempfile::tempdir().unwrap();
    let path = pipeline_file(directory.path(), "python = \"steps:shout\"\n");
    let error = load(&path, &Overrides::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "node 'n': runs the Python function 'steps:shout', and this nodefusion has no Python: \
         run it with the `nodefusion` command of the Python package (`pip install ./python`), \
         or give the node a native equal (`native = \"FUNCTION\"`)"
    );
}

#[tokio::test]
async fn a_python_node_with_a_native_equal_runs_natively_without_python() {
    let directory = tempfile::tempdir().unwrap();
    let body = "python = \"steps:count\"\nnative = \"word_count\"\ninputs = [\"text\"]\n";
    let spec = load(pipeline_file(directory.path(), body), &Overrides::default()).unwrap();
    let ctx = new_context().unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, true)]));
    let texts: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![
        "a b c", "d",
    ]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![texts]).unwrap();
    let compiled = spec
        .pipeline
        .compile(&ctx, &Input::batches(schema, vec![batch]))
        .await
        .unwrap();
    let text = nodefusion::explain::dag_text(compiled.graph(), "memory");
    assert!(
        text.contains(
            "n: word_count(text) -> n  [native, for python steps:count, batch_size=8192]"
        ),
        "{text}"
    );
    let out = compiled.collect().await.unwrap();
    let words = out[0].column_by_name("n").unwrap();
    let words = words.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(words.values(), &[3, 1]);
    for (body, problem) in [
        (
            "python = \"steps:count\"\nnative = \"word_count\"\n",
            "names its `inputs`",
        ),
        (
            "native = \"word_count\"\nfunction = \"word_count\"\n",
            "`native` names the native equal",
        ),
        (
            "python = \"a:b\"\nfunction = \"word_count\"\n",
            "give exactly one of",
        ),
    ] {
        let error = load(pipeline_file(directory.path(), body), &Overrides::default()).unwrap_err();
        assert!(error.to_string().contains(problem), "{error}");
    }
}
