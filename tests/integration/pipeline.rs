//! Pipelines built in Rust: validation errors, pruning, nesting, lifted closures, and
//! results that do not depend on batch size or partition count.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{column_text, docs_file, fused_calls, ids, rows_text};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use nodefusion::{Error, Input, Node, Pipeline, new_context};

/// A node calling the registered `function` on one input column.
fn call(name: &str, function: &str, input: &str, output: &str) -> Node {
    Node::function(name, function)
        .inputs([input])
        .output(output)
}

fn docs_pipeline() -> Pipeline {
    Pipeline::new("docs")
        .node(call("clean", "normalize_text", "text", "clean_text"))
        .node(call("words", "word_count", "clean_text", "words"))
        .node(Node::sql("short", "words < 50").output("is_short"))
}

async fn compile_error(pipeline: Pipeline) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 20, 1).to_string_lossy());
    match pipeline.compile(&new_context().unwrap(), &input).await {
        Ok(_) => panic!("the pipeline compiled"),
        Err(error) => error,
    }
}

#[tokio::test]
async fn an_unknown_column_names_the_node_and_suggests_the_nearest_column() {
    let pipeline =
        Pipeline::new("p").node(Node::function("clean", "normalize_text").inputs(["txt"]));
    let error = compile_error(pipeline).await;
    assert_eq!(
        error.to_string(),
        "node 'clean': unknown column 'txt' (did you mean 'text'?)"
    );
}

#[tokio::test]
async fn a_sql_node_reading_an_unknown_column_is_an_unknown_column() {
    let pipeline = Pipeline::new("p").node(Node::sql("short", "wrds < 50"));
    let error = compile_error(pipeline).await;
    assert!(
        matches!(&error, Error::UnknownColumn { node, column, .. } if node == "short" && column == "wrds"),
        "{error}"
    );
}

#[tokio::test]
async fn two_nodes_writing_one_column_is_a_duplicate_output() {
    let pipeline = Pipeline::new("p")
        .node(call("a", "normalize_text", "text", "x"))
        .node(call("b", "normalize_text", "title", "x"));
    let error = compile_error(pipeline).await;
    assert_eq!(
        error.to_string(),
        "column 'x' is produced twice: by node 'a' and by node 'b'"
    );
}

#[tokio::test]
async fn a_node_writing_an_input_column_is_a_duplicate_output() {
    let pipeline = Pipeline::new("p").node(call("a", "normalize_text", "text", "title"));
    let error = compile_error(pipeline).await;
    assert!(
        error.to_string().contains("by the input and by node 'a'"),
        "{error}"
    );
}

#[tokio::test]
async fn two_nodes_with_one_name_are_an_error() {
    let pipeline = Pipeline::new("p")
        .node(call("a", "normalize_text", "text", "x"))
        .node(call("a", "word_count", "text", "y"));
    assert_eq!(
        compile_error(pipeline).await.to_string(),
        "two nodes are named 'a'"
    );
}

#[tokio::test]
async fn a_cycle_is_reported_with_its_nodes() {
    let pipeline = Pipeline::new("p")
        .node(call("first", "normalize_text", "b", "a"))
        .node(call("second", "normalize_text", "a", "b"));
    let error = compile_error(pipeline).await;
    assert_eq!(
        error.to_string(),
        "the nodes form a cycle: first -> second -> first"
    );
}

#[tokio::test]
async fn a_type_mismatch_names_node_column_and_type() {
    let pipeline = Pipeline::new("p").node(Node::function("words", "word_count").inputs(["id"]));
    let error = compile_error(pipeline).await;
    let message = error.to_string();
    assert!(matches!(error, Error::TypeMismatch { .. }), "{message}");
    assert!(
        message.starts_with("node 'words': type mismatch: word_count cannot take (id: Int64)"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_function_suggests_the_nearest() {
    let pipeline =
        Pipeline::new("p").node(Node::function("clean", "normalise_text").inputs(["text"]));
    let error = compile_error(pipeline).await;
    assert_eq!(
        error.to_string(),
        "node 'clean': unknown function 'normalise_text' (did you mean 'normalize_text'?)"
    );
}

#[tokio::test]
async fn an_unknown_parameter_is_a_bad_option_listing_the_parameters() {
    let pipeline = Pipeline::new("p").node(
        Node::function("chunks", "chunk_text")
            .inputs(["text"])
            .param("max_char", 100)
            .param("overlap", 0),
    );
    let error = compile_error(pipeline).await;
    assert_eq!(
        error.to_string(),
        "node 'chunks': bad option 'max_char': function 'chunk_text' has no parameter 'max_char' \
         (did you mean 'max_chars'?); its parameters are text, max_chars, overlap"
    );
}

#[tokio::test]
async fn a_zero_batch_size_is_a_bad_option() {
    let pipeline = Pipeline::new("p").node(
        Node::function("clean", "normalize_text")
            .inputs(["text"])
            .batch_size(0),
    );
    let error = compile_error(pipeline).await;
    assert_eq!(
        error.to_string(),
        "node 'clean': bad option 'batch_size': must be between 1 and 16777216 rows or 'auto', got 0"
    );
}

#[tokio::test]
async fn an_unknown_requested_output_is_an_error() {
    let error = compile_error(docs_pipeline().outputs(["id", "word"])).await;
    assert_eq!(
        error.to_string(),
        "requested output column 'word' does not exist (did you mean 'words'?)"
    );
}

#[tokio::test]
async fn parameters_bind_by_name_after_the_input_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 30, 3).to_string_lossy());
    let pipeline = Pipeline::new("p")
        .node(
            Node::function("chunks", "chunk_text")
                .inputs(["text"])
                .param("overlap", 0)
                .param("max_chars", 40)
                .output("chunks"),
        )
        .outputs(["chunks"]);
    let compiled = pipeline
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let batches = compiled.collect().await.unwrap();
    let chunks = column_text(&batches, "chunks");
    assert_eq!(chunks.len(), 30);
    assert!(chunks.iter().any(|list| list.starts_with('[')));
}

#[tokio::test]
async fn only_the_nodes_the_requested_outputs_need_are_computed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let pipeline = docs_pipeline()
        .node(
            Node::row_fn("expensive", move |s: &str| {
                counter.fetch_add(1, Ordering::Relaxed);
                s.len() as i64
            })
            .inputs(["text"]),
        )
        .outputs(["id", "words"]);
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 50, 2).to_string_lossy());
    let compiled = pipeline
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let kept: Vec<&str> = compiled
        .graph()
        .nodes
        .iter()
        .map(|n| n.path.as_str())
        .collect();
    let pruned: Vec<&str> = compiled
        .graph()
        .pruned
        .iter()
        .map(|n| n.path.as_str())
        .collect();
    assert_eq!(kept, vec!["clean", "words"]);
    assert_eq!(pruned, vec!["short", "expensive"]);
    let batches = compiled.collect().await.unwrap();
    assert_eq!(batches[0].schema().fields().len(), 2);
    assert_eq!(ids(&batches), (0..50).collect::<Vec<_>>());
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn nodes_are_wired_by_name_whatever_order_they_are_given_in() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 40, 4).to_string_lossy());
    let ctx = new_context().unwrap();
    let forward = docs_pipeline().compile(&ctx, &input).await.unwrap();
    let reversed = Pipeline::new("docs")
        .node(Node::sql("short", "words < 50").output("is_short"))
        .node(call("words", "word_count", "clean_text", "words"))
        .node(call("clean", "normalize_text", "text", "clean_text"))
        .compile(&ctx, &input)
        .await
        .unwrap();
    let forward_rows = rows_text(&forward.collect().await.unwrap());
    let reversed_rows = rows_text(&reversed.collect().await.unwrap());
    assert_eq!(forward_rows.len(), 40);
    assert_eq!(
        reversed_rows,
        forward_rows
            .iter()
            .map(|row| {
                // The reversed pipeline declares its outputs in the other order.
                let fields: Vec<&str> = row.split('|').collect();
                let (inputs, outputs) = fields.split_at(4);
                let mut reordered = inputs.to_vec();
                reordered.extend(outputs.iter().rev());
                reordered.join("|")
            })
            .collect::<Vec<_>>()
    );
}

fn inner_cleaning() -> Pipeline {
    Pipeline::new("cleaning")
        .node(call("clean", "normalize_text", "text", "clean_text"))
        .node(call("count", "word_count", "clean_text", "words"))
        .outputs(["words"])
}

#[tokio::test]
async fn a_nested_pipeline_runs_with_renamed_inputs_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 60, 5).to_string_lossy());
    let ctx = new_context().unwrap();
    let nested = Pipeline::new("outer")
        .node(
            Node::pipeline("title_stats", inner_cleaning())
                .map_input("text", "title")
                .map_output("words", "title_words"),
        )
        .node(Node::sql("long_title", "title_words > 4").output("long_title"))
        .compile(&ctx, &input)
        .await
        .unwrap();
    let paths: Vec<&str> = nested
        .graph()
        .nodes
        .iter()
        .map(|n| n.path.as_str())
        .collect();
    assert_eq!(
        paths,
        vec!["title_stats/clean", "title_stats/count", "long_title"]
    );
    let batches = nested.collect().await.unwrap();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        vec![
            "id",
            "title",
            "text",
            "category",
            "title_words",
            "long_title"
        ]
    );

    let direct = Pipeline::new("direct")
        .node(call("clean", "normalize_text", "title", "t"))
        .node(call("count", "word_count", "t", "title_words"))
        .outputs(["title_words"])
        .compile(&ctx, &input)
        .await
        .unwrap();
    assert_eq!(
        column_text(&batches, "title_words"),
        column_text(&direct.collect().await.unwrap(), "title_words")
    );
}

#[tokio::test]
async fn an_error_inside_a_nested_pipeline_names_the_nested_node() {
    let inner =
        Pipeline::new("inner").node(Node::function("clean", "normalize_text").inputs(["body"]));
    let error = compile_error(Pipeline::new("outer").node(Node::pipeline("prep", inner))).await;
    assert_eq!(
        error.to_string(),
        "node 'prep/clean': unknown column 'body'"
    );
}

#[tokio::test]
async fn renaming_a_column_the_inner_pipeline_does_not_have_is_a_bad_option() {
    let node = Node::pipeline("prep", inner_cleaning()).map_output("wrds", "x");
    let error = compile_error(Pipeline::new("outer").node(node)).await;
    assert_eq!(
        error.to_string(),
        "node 'prep': bad option 'map_outputs.wrds': the inner pipeline has no output 'wrds'"
    );
}

fn numbers_batch(values: &[f64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(0..values.len() as i64));
    let x: ArrayRef = Arc::new(Float64Array::from(values.to_vec()));
    let s: ArrayRef = Arc::new(StringArray::from_iter_values(
        values.iter().map(|v| format!("N{v}")),
    ));
    RecordBatch::try_new(schema, vec![id, x, s]).unwrap()
}

fn closure_pipeline() -> Pipeline {
    Pipeline::new("closures")
        .node(
            Node::row_fn("double", |x: f64| x * 2.0)
                .inputs(["x"])
                .output("doubled"),
        )
        .node(
            Node::row_fn("lower", |s: &str| s.to_lowercase())
                .inputs(["s"])
                .output("lowered"),
        )
        .node(Node::row_fn("or_zero", |x: Option<f64>| x.unwrap_or(0.0)).inputs(["doubled"]))
        .outputs(["id", "doubled", "lowered", "or_zero"])
}

#[tokio::test]
async fn a_compiled_pipeline_runs_again_on_new_batches_without_planning() {
    let first = numbers_batch(&[1.0, 2.5]);
    let schema = first.schema();
    let compiled = closure_pipeline()
        .partitions(1)
        .compile(
            &new_context().unwrap(),
            &Input::batches(schema, vec![first.clone()]),
        )
        .await
        .unwrap();
    let out = compiled.collect().await.unwrap();
    assert_eq!(column_text(&out, "doubled"), vec!["2.0", "5.0"]);
    assert_eq!(column_text(&out, "lowered"), vec!["n1", "n2.5"]);
    for values in [[3.0, 4.0, 5.0].as_slice(), &[10.0]] {
        let out = compiled
            .run_batches(vec![numbers_batch(values)])
            .await
            .unwrap();
        let expected: Vec<String> = values.iter().map(|v| format!("{:.1}", v * 2.0)).collect();
        assert_eq!(column_text(&out, "doubled"), expected);
        assert_eq!(column_text(&out, "or_zero"), expected);
    }
}

#[tokio::test]
async fn a_pipeline_built_again_runs_on_its_own_rows_and_with_the_contexts_new_settings() {
    let ctx = new_context().unwrap();
    let compile = |values: &'static [f64]| {
        let batch = numbers_batch(values);
        let input = Input::batches(batch.schema(), vec![batch]);
        let ctx = ctx.clone();
        async move {
            let pipeline = closure_pipeline().partitions(1);
            pipeline.compile(&ctx, &input).await.unwrap()
        }
    };
    let first = compile(&[1.0, 2.5]).await;
    let second = compile(&[3.0, 4.0, 5.0]).await;
    let out = second.collect().await.unwrap();
    assert_eq!(column_text(&out, "doubled"), vec!["6.0", "8.0", "10.0"]);
    assert_eq!(column_text(&out, "lowered"), vec!["n3", "n4", "n5"]);
    let out = first.collect().await.unwrap();
    assert_eq!(column_text(&out, "doubled"), vec!["2.0", "5.0"]);
    let sizes = |out: &[RecordBatch]| out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>();
    let five = &[1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(sizes(&compile(five).await.collect().await.unwrap()), [5]);
    ctx.sql("SET nodefusion.batch_size = 2").await.unwrap();
    let out = compile(five).await.collect().await.unwrap();
    assert_eq!(sizes(&out), [2, 2, 1]);
    assert_eq!(
        column_text(&out, "doubled"),
        vec!["2.0", "4.0", "6.0", "8.0", "10.0"]
    );
}

#[tokio::test]
async fn a_kept_plan_does_not_keep_the_rows_it_was_compiled_over() {
    let ctx = new_context().unwrap();
    let batch = numbers_batch(&[1.0, 2.0]);
    let values = Arc::downgrade(batch.column(1));
    let input = Input::batches(batch.schema(), vec![batch]);
    let compiled = closure_pipeline().compile(&ctx, &input).await.unwrap();
    let out = compiled.collect().await.unwrap();
    assert_eq!(column_text(&out, "doubled"), vec!["2.0", "4.0"]);
    drop((compiled, input, out));
    assert!(values.upgrade().is_none(), "the rows are still held");
    let batch = numbers_batch(&[7.0]);
    let input = Input::batches(batch.schema(), vec![batch]);
    let again = closure_pipeline().compile(&ctx, &input).await.unwrap();
    assert_eq!(
        column_text(&again.collect().await.unwrap(), "doubled"),
        vec!["14.0"]
    );
}

#[tokio::test]
async fn running_on_batches_of_another_schema_is_an_error_naming_the_column() {
    let batch = numbers_batch(&[1.0]);
    let compiled = closure_pipeline()
        .compile(
            &new_context().unwrap(),
            &Input::batches(batch.schema(), vec![batch]),
        )
        .await
        .unwrap();
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["a"]))],
    )
    .unwrap();
    let error = compiled.run_batches(vec![other]).await.unwrap_err();
    assert!(error.to_string().contains("column 'id' is Utf8"), "{error}");
}

#[tokio::test]
async fn a_compiled_pipeline_runs_on_another_file_of_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let first = Input::path(docs_file(dir.path(), "a.parquet", 30, 1).to_string_lossy());
    let second = Input::path(docs_file(dir.path(), "b.parquet", 70, 2).to_string_lossy());
    let ctx = new_context().unwrap();
    let compiled = docs_pipeline().compile(&ctx, &first).await.unwrap();
    let moved = compiled.with_input(&second).await.unwrap();
    let direct = docs_pipeline().compile(&ctx, &second).await.unwrap();
    assert_eq!(
        rows_text(&moved.collect().await.unwrap()),
        rows_text(&direct.collect().await.unwrap())
    );
    assert_eq!(ids(&compiled.collect().await.unwrap()).len(), 30);
}

#[tokio::test]
async fn a_compiled_pipeline_gives_the_same_rows_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 50, 6).to_string_lossy());
    let compiled = docs_pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let first = rows_text(&compiled.collect().await.unwrap());
    assert_eq!(first.len(), 50);
    assert_eq!(rows_text(&compiled.collect().await.unwrap()), first);
}

#[tokio::test]
async fn results_do_not_depend_on_batch_size_or_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 300, 9).to_string_lossy());
    let ctx = new_context().unwrap();
    let pipeline = || {
        docs_pipeline()
            .node(
                Node::row_fn("letters", |s: &str| {
                    s.chars().filter(|c| c.is_alphabetic()).count() as i64
                })
                .inputs(["clean_text"]),
            )
            .node(
                Node::function("chunks", "chunk_text")
                    .inputs(["title"])
                    .param("max_chars", 12)
                    .param("overlap", 4),
            )
    };
    let reference = pipeline()
        .batch_size(8192)
        .partitions(1)
        .compile(&ctx, &input)
        .await
        .unwrap();
    let expected = rows_text(&reference.collect().await.unwrap());
    assert_eq!(expected.len(), 300);
    for batch_size in [1, 7, 8192] {
        for partitions in [1, 2, 4] {
            let compiled = pipeline()
                .batch_size(batch_size)
                .partitions(partitions)
                .compile(&ctx, &input)
                .await
                .unwrap();
            let batches = compiled.collect().await.unwrap();
            assert_eq!(
                rows_text(&batches),
                expected,
                "batch_size {batch_size}, partitions {partitions}"
            );
        }
    }
}

#[tokio::test]
async fn a_node_batch_size_overrides_the_pipeline_default() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 25, 9).to_string_lossy());
    let compiled = docs_pipeline()
        .node(
            Node::function("title_words", "word_count")
                .inputs(["title"])
                .batch_size(3),
        )
        .batch_size(10)
        .partitions(2)
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let sizes: Vec<usize> = compiled
        .graph()
        .nodes
        .iter()
        .map(|node| node.settings.batch_size.rows())
        .collect();
    assert_eq!(sizes, vec![10, 10, 10, 3]);
    let plan = datafusion::physical_plan::displayable(compiled.physical_plan().as_ref())
        .indent(false)
        .to_string();
    assert!(plan.contains("RechunkExec: batch_size=10"), "{plan}");
    assert!(plan.contains("RechunkExec: batch_size=3"), "{plan}");
    assert_eq!(
        ids(&compiled.collect().await.unwrap()),
        (0..25).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_failing_closure_fails_the_run_with_the_function_and_row() {
    let batch = numbers_batch(&[1.0, 2.0, 3.0]);
    let pipeline = Pipeline::new("p").node(
        Node::row_fn("checked", |x: f64| {
            if x > 2.0 {
                Err(format!("{x} is too large"))
            } else {
                Ok(x)
            }
        })
        .inputs(["x"]),
    );
    let compiled = pipeline
        .compile(
            &new_context().unwrap(),
            &Input::batches(batch.schema(), vec![batch]),
        )
        .await
        .unwrap();
    let error = compiled.collect().await.unwrap_err().to_string();
    assert!(
        error.contains("checked failed on row 2: 3 is too large"),
        "{error}"
    );
}

#[tokio::test]
async fn csv_and_json_inputs_are_read_by_their_extension() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docs.csv"),
        "id,text\n1,Hello World\n2,\"A, b\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("docs.json"),
        "{\"id\": 1, \"text\": \"Hello World\"}\n{\"id\": 2, \"text\": \"A, b\"}\n",
    )
    .unwrap();
    let ctx = new_context().unwrap();
    for name in ["docs.csv", "docs.json"] {
        let input = Input::path(dir.path().join(name).to_string_lossy());
        let pipeline = Pipeline::new("p")
            .node(Node::function("clean", "normalize_text").inputs(["text"]))
            .outputs(["id", "clean"]);
        let compiled = pipeline.compile(&ctx, &input).await.unwrap();
        let batches = compiled.collect().await.unwrap();
        assert_eq!(
            column_text(&batches, "clean"),
            vec!["hello world", "a b"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_http_input_is_read_from_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 40, 11);
    let base = crate::support::serve_files(dir.path().to_path_buf()).await;
    let ctx = new_context().unwrap();
    let remote = docs_pipeline()
        .compile(&ctx, &Input::path(format!("{base}/docs.parquet")))
        .await
        .unwrap();
    let local = docs_pipeline()
        .compile(
            &ctx,
            &Input::path(dir.path().join("docs.parquet").to_string_lossy()),
        )
        .await
        .unwrap();
    let remote_rows = rows_text(&remote.collect().await.unwrap());
    assert_eq!(remote_rows.len(), 40);
    assert_eq!(remote_rows, rows_text(&local.collect().await.unwrap()));
}

#[tokio::test]
async fn a_missing_input_file_is_an_error_naming_it() {
    let error = docs_pipeline()
        .compile(
            &new_context().unwrap(),
            &Input::path("no/such/dir/docs.parquet"),
        )
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("input 'no/such/dir/docs.parquet'"),
        "{error}"
    );
}

#[tokio::test]
async fn a_lowered_class_replacement_answers_as_the_two_calls_in_nodes_and_in_sql() {
    // `regexp_replace(lower(text), class, ...)` runs as one pass per row in a node and in a
    // SQL projection; DataFusion's session with the same functions, without nodefusion's
    // rule, runs the two calls one after the other. Generated documents (mixed scripts,
    // emoji, NULLs), and rows whose lowercase is not their ASCII lowercase (final sigma,
    // dotted I, Kelvin sign).
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(dir.path(), "docs.parquet", 300, 5);
    let tricky = dir.path().join("tricky.parquet");
    crate::support::parquet_from_sql(
        &tricky,
        "SELECT column1 AS id, column2 AS text FROM (VALUES (1, 'ΟΔΟΣ, ΣΑΣ!'), \
         (2, 'İstanbul \u{212a}elvin ẞ Ǆ'), (3, NULL), (4, ''), (5, 'Plain ASCII, OK?'), \
         (6, 'Café 東京 😀 NAÏVE'))",
    )
    .await;
    let expressions = [
        "regexp_replace(lower(text), '[^a-z0-9 ]', '', 'g')",
        "regexp_replace(lower(text), '[^a-z ]+', '_', 'g')",
        "upper(regexp_replace(lower(text), '[aeiou]', '*', 'g'))",
    ];
    let ctx = new_context().unwrap();
    let unfused = datafusion::prelude::SessionContext::new().enable_url_table();
    nodefusion_udfs::register_all(&unfused).unwrap();
    for input in [&docs, &tricky] {
        let path = input.to_string_lossy();
        let select: Vec<String> = expressions
            .iter()
            .enumerate()
            .map(|(index, expression)| format!("{expression} AS n{index}"))
            .collect();
        let query = format!("SELECT id, {} FROM '{path}' ORDER BY id", select.join(", "));
        let expected = unfused.sql(&query).await.unwrap().collect().await.unwrap();
        let mut answers = Vec::new();
        // SQL, an expression per query (in one query, the three would share `lower(text)`).
        for (index, expression) in expressions.iter().enumerate() {
            let query = format!("SELECT id, {expression} AS n{index} FROM '{path}' ORDER BY id");
            let frame = ctx.sql(&query).await.unwrap();
            assert_eq!(
                fused_calls(&frame.clone().create_physical_plan().await.unwrap()),
                1
            );
            let unfused_frame = unfused.sql(&query).await.unwrap();
            assert_eq!(
                fused_calls(&unfused_frame.create_physical_plan().await.unwrap()),
                0
            );
            answers.push((format!("SQL: {query}"), frame.collect().await.unwrap()));
        }
        for (batch_size, partitions) in [(8192, 1), (7, 2)] {
            let pipeline = expressions.iter().enumerate().fold(
                Pipeline::new("lowered").partitions(partitions),
                |pipeline, (index, expression)| {
                    pipeline.node(
                        Node::sql(format!("n{index}"), *expression)
                            .output(format!("n{index}"))
                            .batch_size(batch_size),
                    )
                },
            );
            let out = pipeline
                .compile(&ctx, &Input::path(path.clone()))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            answers.push((
                format!("nodes in batches of {batch_size} on {partitions} partitions"),
                out,
            ));
        }
        for (how, out) in &answers {
            assert_eq!(ids(out), ids(&expected), "{path}");
            for (index, expression) in expressions.iter().enumerate() {
                let name = format!("n{index}");
                if out[0].schema().index_of(&name).is_ok() {
                    assert_eq!(
                        column_text(out, &name),
                        column_text(&expected, &name),
                        "{expression} over {path}, {how}"
                    );
                }
            }
        }
    }
}
