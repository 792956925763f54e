//! Parquet output: values read back by a second reader, compression and row groups,
//! partitioned directories, and the commit that leaves nothing behind when a run fails.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::support::{column_text, docs_file, files_below};

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use datafusion::parquet::record::Field;
use nodefusion::{Input, Node, Output, Pipeline, WriteMode, new_context};

/// A node calling the registered `function` on one input column.
fn call(name: &str, function: &str, input: &str, output: &str) -> Node {
    Node::function(name, function)
        .inputs([input])
        .output(output)
}

fn pipeline() -> Pipeline {
    Pipeline::new("docs")
        .node(call("clean", "normalize_text", "text", "clean_text"))
        .node(call("words", "word_count", "clean_text", "words"))
        .outputs(["id", "category", "clean_text", "words"])
        .partitions(2)
}

/// Reads a Parquet file with the parquet crate's record API, not Arrow's: a second reader.
fn read_records(path: &Path) -> Vec<(i64, String, Option<i64>)> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            let mut id = 0;
            let mut text = String::from("NULL");
            let mut words = None;
            for (name, value) in row.get_column_iter() {
                match (name.as_str(), value) {
                    ("id", Field::Long(v)) => id = *v,
                    ("clean_text", Field::Str(v)) => text = v.clone(),
                    ("words", Field::Long(v)) => words = Some(*v),
                    _ => {}
                }
            }
            (id, text, words)
        })
        .collect()
}

async fn expected_rows(input: &Input) -> Vec<RecordBatch> {
    pipeline()
        .compile(&new_context().unwrap(), input)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn written_values_read_back_identically_by_a_second_reader() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 500, 21).to_string_lossy());
    let target = dir.path().join("out").join("clean.parquet");
    let compiled = pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let summary = compiled.write(&Output::parquet(&target)).await.unwrap();
    assert_eq!((summary.rows_in, summary.rows_out), (500, 500));
    assert_eq!(
        summary.files,
        vec![nodefusion::Location::Local(target.clone())]
    );
    let names: Vec<&str> = summary.nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, vec!["clean", "words"]);
    assert!(summary.nodes.iter().all(|n| n.rows == 500));

    let expected = expected_rows(&input).await;
    let records = read_records(&target);
    let ids: Vec<String> = records.iter().map(|r| r.0.to_string()).collect();
    let texts: Vec<String> = records.iter().map(|r| r.1.clone()).collect();
    let words: Vec<String> = records
        .iter()
        .map(|r| r.2.map_or("NULL".to_string(), |w| w.to_string()))
        .collect();
    assert_eq!(ids, column_text(&expected, "id"));
    assert_eq!(texts, column_text(&expected, "clean_text"));
    assert_eq!(words, column_text(&expected, "words"));
}

#[tokio::test]
async fn a_directory_output_reads_back_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 60_000, 5).to_string_lossy());
    let target = dir.path().join("out");
    let compiled = pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    compiled.write(&Output::parquet(&target)).await.unwrap();
    // Every file in name order, as readers list a directory.
    let mut files: Vec<_> = files_below(&target)
        .into_iter()
        .filter(|file| {
            file.extension()
                .is_some_and(|extension| extension == "parquet")
        })
        .collect();
    files.sort();
    let ids: Vec<String> = files
        .iter()
        .flat_map(|file| read_records(&target.join(file)))
        .map(|record| record.0.to_string())
        .collect();
    assert_eq!(ids, column_text(&expected_rows(&input).await, "id"));
}

#[tokio::test]
async fn output_is_zstd_by_default_with_the_row_group_size_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 250, 3).to_string_lossy());
    let compiled = pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let default_target = dir.path().join("default.parquet");
    compiled
        .write(&Output::parquet(&default_target))
        .await
        .unwrap();
    let small_groups = dir.path().join("small.parquet");
    compiled
        .write(
            &Output::parquet(&small_groups)
                .row_group_size(100)
                .compression("snappy"),
        )
        .await
        .unwrap();

    let metadata = |path: &Path| {
        SerializedFileReader::new(File::open(path).unwrap())
            .unwrap()
            .metadata()
            .clone()
    };
    let default = metadata(&default_target);
    assert_eq!(default.num_row_groups(), 1);
    assert!(matches!(
        default.row_group(0).column(0).compression(),
        Compression::ZSTD(_)
    ));
    let small = metadata(&small_groups);
    assert_eq!(small.num_row_groups(), 3);
    assert_eq!(small.row_group(0).num_rows(), 100);
    assert_eq!(
        small.row_group(0).column(0).compression(),
        Compression::SNAPPY
    );
}

#[tokio::test]
async fn error_mode_refuses_an_existing_output_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 20, 1).to_string_lossy());
    let target = dir.path().join("out.parquet");
    std::fs::write(&target, b"keep me").unwrap();
    let compiled = pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let error = compiled.write(&Output::parquet(&target)).await.unwrap_err();
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
}

#[tokio::test]
async fn overwriting_twice_gives_the_rows_once_and_appending_adds_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 30, 1).to_string_lossy());
    let ctx = new_context().unwrap();
    let compiled = pipeline().compile(&ctx, &input).await.unwrap();
    let single = dir.path().join("single.parquet");
    for _ in 0..2 {
        compiled
            .write(&Output::parquet(&single).mode(WriteMode::Overwrite))
            .await
            .unwrap();
    }
    assert_eq!(read_records(&single).len(), 30);

    let directory = dir.path().join("appended");
    for _ in 0..2 {
        compiled
            .write(&Output::parquet(&directory).mode(WriteMode::Append))
            .await
            .unwrap();
    }
    let files = files_below(&directory);
    assert_eq!(files.len(), 2, "{files:?}");
    let rows: usize = files
        .iter()
        .map(|f| read_records(&directory.join(f)).len())
        .sum();
    assert_eq!(rows, 60);
}

#[tokio::test]
async fn partitioned_output_writes_one_directory_per_value() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 200, 8).to_string_lossy());
    let compiled = pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let target = dir.path().join("by_category");
    let summary = compiled
        .write(&Output::parquet(&target).partition_by(["category"]))
        .await
        .unwrap();
    let files = files_below(&target);
    assert!(files.len() > 1);
    assert!(
        files
            .iter()
            .all(|f| f.to_string_lossy().starts_with("category=")),
        "{files:?}"
    );
    assert_eq!(summary.files.len(), files.len());
    let rows: usize = files
        .iter()
        .map(|f| read_records(&target.join(f)).len())
        .sum();
    assert_eq!(rows, 200);

    let ctx = new_context().unwrap();
    let sql = format!(
        "SELECT count(*) AS n, count(DISTINCT category) AS c FROM '{}/'",
        target.display()
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    assert_eq!(column_text(&batches, "n"), vec!["200"]);
    assert_eq!(column_text(&batches, "c"), vec![files.len().to_string()]);
}

/// Rows whose partition values are NULL (over a slot that still holds another value's
/// bytes, as a filtered or computed column can), hold `=`, `/`, `%` or `..`, or are empty.
fn awkward_partition_values() -> Input {
    let values = "plainplainx=ya/b..50%";
    let offsets = OffsetBuffer::new(vec![0, 5, 10, 13, 16, 18, 18, 21].into());
    let nulls = NullBuffer::from(vec![true, false, true, true, true, true, true]);
    let keys = StringArray::new(offsets, values.as_bytes().to_vec().into(), Some(nulls));
    let numbers = Int64Array::from(vec![
        Some(1),
        Some(1),
        None,
        Some(2),
        None,
        Some(3),
        Some(1),
    ]);
    let ids = Int64Array::from((0..7).collect::<Vec<i64>>());
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("id", DataType::Int64, false),
        ArrowField::new("key", DataType::Utf8, true),
        ArrowField::new("n", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(ids), Arc::new(keys), Arc::new(numbers)],
    )
    .unwrap();
    Input::batches(schema, vec![batch])
}

#[tokio::test]
async fn partition_values_that_are_null_or_hold_path_characters_keep_their_rows_apart() {
    let dir = tempfile::tempdir().unwrap();
    let compiled = Pipeline::new("keys")
        .node(Node::sql("id2", "id * 2"))
        .outputs(["id", "key", "n", "id2"])
        .compile(&new_context().unwrap(), &awkward_partition_values())
        .await
        .unwrap();
    let target = dir.path().join("by_key");
    compiled
        .write(&Output::parquet(&target).partition_by(["key", "n"]))
        .await
        .unwrap();
    // Hive's layout: NULL is __HIVE_DEFAULT_PARTITION__, a character a path segment cannot
    // hold is percent-encoded (readers decode it), the first `=` ends the column's name.
    let mut found: Vec<(String, String)> = files_below(&target)
        .iter()
        .flat_map(|file| {
            let directory = file.parent().unwrap().to_string_lossy().into_owned();
            crate::support::parquet_rows(&target.join(file))
                .into_iter()
                .map(move |row| (row, directory.clone()))
        })
        .collect();
    found.sort();
    let null = "__HIVE_DEFAULT_PARTITION__";
    let expected = [
        ("{id: 0, id2: 0}", "key=plain/n=1".to_string()),
        ("{id: 1, id2: 2}", format!("key={null}/n=1")),
        ("{id: 2, id2: 4}", format!("key=x=y/n={null}")),
        ("{id: 3, id2: 6}", "key=a%2Fb/n=2".to_string()),
        ("{id: 4, id2: 8}", format!("key=../n={null}")),
        ("{id: 5, id2: 10}", "key=/n=3".to_string()),
        ("{id: 6, id2: 12}", "key=50%25/n=1".to_string()),
    ]
    .map(|(row, directory)| (row.to_string(), directory));
    assert_eq!(found, expected);

    // DataFusion reads the values back decoded.
    let ctx = new_context().unwrap();
    let sql = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET PARTITIONED BY (key, n) LOCATION '{}/'",
        target.display()
    );
    ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let batches = ctx
        .sql("SELECT key FROM t ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        column_text(&batches, "key"),
        ["plain", null, "x=y", "a/b", "..", "", "50%"]
    );
}

#[tokio::test]
async fn a_partition_column_that_is_not_an_output_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 10, 8).to_string_lossy());
    let compiled = pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let error = compiled
        .write(&Output::parquet(dir.path().join("x")).partition_by(["title"]))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "output.partition_by: 'title' is not an output column"
    );
}

#[tokio::test]
async fn a_failed_run_leaves_nothing_at_the_target_and_no_staging_behind() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "docs.parquet", 3000, 5).to_string_lossy());
    let failing = Pipeline::new("failing")
        .node(
            Node::row_fn("explode", |id: i64| {
                if id == 2500 {
                    Err("row 2500 is bad")
                } else {
                    Ok(id)
                }
            })
            .inputs(["id"]),
        )
        .batch_size(256)
        .partitions(2);
    let compiled = failing
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for target in [out.join("single.parquet"), out.join("directory")] {
        let error = compiled.write(&Output::parquet(&target)).await.unwrap_err();
        assert!(error.to_string().contains("row 2500 is bad"), "{error}");
        assert!(!target.exists());
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[tokio::test]
async fn an_empty_input_writes_an_empty_file_with_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::path(docs_file(dir.path(), "empty.parquet", 0, 1).to_string_lossy());
    let compiled = pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let target = dir.path().join("empty_out.parquet");
    let summary = compiled.write(&Output::parquet(&target)).await.unwrap();
    assert_eq!(summary.rows_out, 0);
    let reader = SerializedFileReader::new(File::open(&target).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    assert_eq!(
        reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .num_columns(),
        4
    );
}

/// A session with `t(id, text)`: three rows whose text is a number but for the last.
fn session_with_numbers_and_a_word() -> datafusion::prelude::SessionContext {
    let ctx = new_context().unwrap();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            ArrowField::new("id", DataType::Int64, false),
            ArrowField::new("text", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec!["10", "20", "thirty"])),
        ],
    )
    .unwrap();
    ctx.register_batch("t", batch).unwrap();
    ctx
}

/// Runs `sql` to the end; the error's text if it fails.
async fn run_sql(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Result<(), String> {
    let frame = ctx.sql(sql).await.map_err(|e| e.to_string())?;
    frame.collect().await.map(drop).map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_failed_copy_leaves_the_target_as_it_was_and_a_complete_one_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = session_with_numbers_and_a_word();
    let file = dir.path().join("numbers.parquet");
    let directory = dir.path().join("numbers");
    let failing = "SELECT id, CAST(text AS INT) AS n FROM t";
    for target in [
        format!("'{}'", file.display()),
        format!("'{}/' STORED AS PARQUET", directory.display()),
    ] {
        let error = run_sql(&ctx, &format!("COPY ({failing}) TO {target}"))
            .await
            .unwrap_err();
        assert!(error.contains("thirty"), "{error}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );

    let complete = "SELECT id, CAST(text AS INT) AS n FROM t WHERE id < 3";
    for round in 0..2 {
        run_sql(&ctx, &format!("COPY ({complete}) TO '{}'", file.display()))
            .await
            .unwrap();
        let sql = format!(
            "COPY ({complete}) TO '{}/' STORED AS PARQUET",
            directory.display()
        );
        run_sql(&ctx, &sql).await.unwrap();
        assert_eq!(
            crate::support::parquet_rows(&file),
            ["{id: 1, n: 10}", "{id: 2, n: 20}"],
            "a single file is replaced"
        );
        assert_eq!(
            files_below(&directory).len(),
            round + 1,
            "a directory gets the new files beside its own"
        );
    }
    run_sql(&ctx, &format!("COPY ({failing}) TO '{}'", file.display()))
        .await
        .unwrap_err();
    assert_eq!(
        crate::support::parquet_rows(&file),
        ["{id: 1, n: 10}", "{id: 2, n: 20}"],
        "the previous result stays"
    );
    assert_eq!(files_below(dir.path()).len(), 3);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no staging left behind"
    );
}

#[tokio::test]
async fn a_partitioned_copy_writes_null_as_hive_s_default_partition() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = session_with_numbers_and_a_word();
    let target = dir.path().join("by_number");
    let sql = format!(
        "COPY (SELECT id, TRY_CAST(text AS INT) AS n FROM t) TO '{}/' \
         STORED AS PARQUET PARTITIONED BY (n)",
        target.display()
    );
    run_sql(&ctx, &sql).await.unwrap();
    let directories: Vec<String> = files_below(&target)
        .iter()
        .map(|file| file.parent().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        directories,
        ["n=10", "n=20", "n=__HIVE_DEFAULT_PARTITION__"]
    );
}

#[tokio::test]
async fn several_input_files_into_a_partitioned_directory_keep_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("docs");
    std::fs::create_dir_all(&inputs).unwrap();
    for (file, seed) in [1, 2, 3].into_iter().enumerate() {
        docs_file(&inputs, &format!("part-{file}.parquet"), 40, seed);
    }
    let input = Input::path(inputs.to_string_lossy());
    let compiled = pipeline()
        .compile(&new_context().unwrap(), &input)
        .await
        .unwrap();
    let directory = Output::parquet(dir.path().join("x"));
    assert!(compiled.writes_in_units(&directory).await.unwrap());
    let target = dir.path().join("by_category");
    let summary = compiled
        .write(&Output::parquet(&target).partition_by(["category"]))
        .await
        .unwrap();
    assert_eq!((summary.rows_in, summary.rows_out), (120, 120));
    let files = files_below(&target);
    assert_eq!(summary.files.len(), files.len());
    let mut rows: Vec<(String, i64, String)> = Vec::new();
    for file in &files {
        let category = file.parent().unwrap().to_string_lossy().into_owned();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("part-0000"), "{name}");
        for (id, text, _) in read_records(&target.join(file)) {
            rows.push((category.clone(), id, text));
        }
    }
    rows.sort();
    let ctx = new_context().unwrap();
    let sql = format!(
        "SELECT 'category=' || category AS c, id, normalize_text(text) AS t FROM '{}/' ORDER BY c, id, t",
        inputs.display()
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let expected: Vec<(String, i64, String)> = column_text(&batches, "c")
        .into_iter()
        .zip(crate::support::ids(&batches))
        .zip(column_text(&batches, "t"))
        .map(|((c, id), t)| (c, id, t))
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn outputs_read_back_as_plain_types_by_pyarrow_pandas_and_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 200, 3);
    let text = "[input]\npath = \"docs.parquet\"\n[output]\npath = \"run.parquet\"\n\
                [[nodes]]\nname = \"chunks\"\nfunction = \"chunk_text\"\ninputs = [\"text\"]\n\
                params = { max_chars = 80, overlap = 0 }\n";
    std::fs::write(dir.path().join("p.toml"), text).unwrap();
    let run = crate::support::nodefusion(dir.path(), &["run", "p.toml", "--quiet"]);
    assert!(run.status.success(), "{}", crate::support::stderr(&run));
    let copy =
        "COPY (SELECT id, text, [category, text] AS pair FROM 'docs.parquet') TO 'copy.parquet'";
    let copied = crate::support::nodefusion(dir.path(), &["sql", copy]);
    assert!(
        copied.status.success(),
        "{}",
        crate::support::stderr(&copied)
    );
    // A string passed through from the input, one computed, lists of them: plain types,
    // which sort, take and convert.
    let script = r#"
import duckdb, pyarrow as pa, pyarrow.parquet as pq
for name in ["run.parquet", "copy.parquet"]:
    table = pq.read_table(name)
    def has_view(t):
        if pa.types.is_string_view(t) or pa.types.is_binary_view(t) or pa.types.is_list_view(t):
            return True
        return any(has_view(t.field(i).type) for i in range(t.num_fields))
    views = [f.name for f in table.schema if has_view(f.type)]
    assert not views, (name, table.schema)
    ordered = table.sort_by("text")
    assert ordered.num_rows == 200
    assert ordered.take([0, 199]).num_rows == 2
    frame = table.to_pandas()
    assert len(frame) == 200 and isinstance(frame["text"].iloc[0], str)
    rows = duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM '{name}'").fetchall()[0]
    assert rows == (200, 200), rows
print("plain")
"#;
    assert_eq!(crate::support::python(dir.path(), script).trim(), "plain");
}

/// An input of `rows` rows (`id`, and a `text` with every seventh row NULL) in zstd row
/// groups of `group_rows`.
fn grouped_input(path: &Path, rows: i64, group_rows: usize) {
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("id", DataType::Int64, false),
        ArrowField::new("text", DataType::Utf8, true),
    ]));
    let text: StringArray = (0..rows)
        .map(|id| (id % 7 != 3).then(|| format!("Row {id}: Some WORDS, and more (#{})", id * 31)))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows)),
            Arc::new(text),
        ],
    )
    .unwrap();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let mut writer =
        ArrowWriter::try_new(File::create(path).unwrap(), schema, Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Each row group's rows and the compressed size of its column `name`.
fn chunk_sizes(path: &Path, name: &str) -> Vec<(i64, i64)> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let metadata = reader.metadata();
    let leaf = (0..metadata.file_metadata().schema_descr().num_columns())
        .find(|&leaf| metadata.file_metadata().schema_descr().column(leaf).name() == name)
        .unwrap();
    metadata
        .row_groups()
        .iter()
        .map(|group| (group.num_rows(), group.column(leaf).compressed_size()))
        .collect()
}

/// Every row of a Parquet file as text, read with the parquet crate's record API.
fn record_lines(path: &Path) -> Vec<String> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| row.unwrap().to_string())
        .collect()
}

#[test]
fn columns_passed_through_are_copied_from_the_input_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    grouped_input(&dir.path().join("in.parquet"), 2_500, 1_000);
    let text = "[input]\npath = \"in.parquet\"\n[output]\npath = \"out.parquet\"\n\
                columns = [\"id\", \"text\", \"clean\", \"words\"]\nmode = \"overwrite\"\n\
                [[nodes]]\nname = \"clean\"\nfunction = \"normalize_text\"\ninputs = [\"text\"]\n\
                [[nodes]]\nname = \"words\"\nfunction = \"word_count\"\ninputs = [\"clean\"]\n";
    std::fs::write(dir.path().join("p.toml"), text).unwrap();
    let run = |name: &str, settings: &[&str]| {
        let mut args = vec!["run", "p.toml", "--quiet", "--output", name];
        for setting in settings {
            args.extend(["--set", setting]);
        }
        let run = crate::support::nodefusion(dir.path(), &args);
        assert!(run.status.success(), "{}", crate::support::stderr(&run));
        dir.path().join(name)
    };
    // Snappy differs from the input's codec: every column is encoded, as before.
    let encoded = run("encoded.parquet", &["output.compression=\"snappy\""]);
    let input = dir.path().join("in.parquet");
    for (name, settings) in [
        ("copied.parquet", vec![]),
        (
            "small_batches.parquet",
            vec!["defaults.batch_size=300", "defaults.partitions=2"],
        ),
    ] {
        let copied = run(name, &settings);
        assert_eq!(record_lines(&copied), record_lines(&encoded), "{name}");
        // The input's row groups, its `id` and `text` chunks byte for byte.
        for column in ["id", "text"] {
            assert_eq!(chunk_sizes(&copied, column), chunk_sizes(&input, column));
        }
        assert_ne!(
            chunk_sizes(&copied, "clean"),
            chunk_sizes(&encoded, "clean")
        );
    }
    // Row groups smaller than the input's: encoded, in row groups of the size asked.
    let regrouped = run("regrouped.parquet", &["output.row_group_size=600"]);
    assert_eq!(record_lines(&regrouped), record_lines(&encoded));
    let groups: Vec<i64> = chunk_sizes(&regrouped, "text")
        .iter()
        .map(|(rows, _)| *rows)
        .collect();
    assert_eq!(groups, [600, 600, 600, 600, 100]);
}
