//! Bad input, as users meet it, through the command line: each case with the error it must
//! give (naming the file, node, column, option or value), a non-zero exit, no panic, and
//! nothing written at the output path.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;

use crate::support::{docs_file, nodefusion, stderr};

/// A pipeline file reading `input` into `out/result.parquet` through one `normalize_text`
/// node, with `extra` appended to the node's section.
fn pipeline(dir: &Path, input: &str, extra: &str) {
    let text = format!(
        "[input]\npath = \"{input}\"\n[output]\npath = \"out/result.parquet\"\n\
         [[nodes]]\nname = \"clean\"\nfunction = \"normalize_text\"\ninputs = [\"text\"]\n{extra}"
    );
    std::fs::write(dir.join("pipeline.toml"), text).unwrap();
}

/// Runs `nodefusion run pipeline.toml` with `args` and returns the error it printed, after
/// checking that it failed without a panic and wrote nothing.
fn refused(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["run", "pipeline.toml", "--quiet"];
    all.extend_from_slice(args);
    let output = nodefusion(dir, &all);
    let message = stderr(&output);
    assert!(!output.status.success(), "{all:?} succeeded");
    assert!(!message.contains("panicked"), "{message}");
    assert_eq!(
        message.lines().count(),
        1,
        "one error, printed once: {message}"
    );
    assert!(!dir.join("out/result.parquet").exists(), "{message}");
    message
}

/// Writes a Parquet file of two rows of Int64 `columns`, named as given (repeats allowed).
fn int_columns_file(path: &Path, columns: &[&str]) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|name| Field::new(*name, DataType::Int64, false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let values: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let arrays = columns.iter().map(|_| Arc::clone(&values)).collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// A directory of sample documents holding one more file, `name`, of `bytes`.
fn documents_with(dir: &Path, name: &str, bytes: &[u8]) {
    let documents = dir.join("docs");
    std::fs::create_dir_all(&documents).unwrap();
    docs_file(&documents, "a.parquet", 50, 1);
    std::fs::write(documents.join(name), bytes).unwrap();
}

#[test]
fn an_empty_parquet_file_in_a_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    documents_with(dir.path(), "b.parquet", b"");
    pipeline(dir.path(), "docs", "");
    let message = refused(dir.path(), &[]);
    assert!(
        message.contains("b.parquet': an empty file (0 bytes), not Parquet"),
        "{message}"
    );
}

#[test]
fn a_truncated_parquet_file_is_named_and_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let whole = docs_file(dir.path(), "whole.parquet", 50, 1);
    let bytes = std::fs::read(whole).unwrap();
    // The tail of a real file (its footer's length and PAR1) after a cut-off body.
    let mut cut = bytes[..64].to_vec();
    cut.extend_from_slice(&bytes[bytes.len() - 8..]);
    documents_with(dir.path(), "cut.parquet", &cut);
    pipeline(dir.path(), "docs", "");
    let message = refused(dir.path(), &[]);
    assert!(
        message.contains("cut.parquet': truncated or corrupt"),
        "{message}"
    );
}

#[test]
fn a_truncated_parquet_file_read_by_sql_is_named_as_in_a_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let whole = docs_file(dir.path(), "whole.parquet", 50, 1);
    let bytes = std::fs::read(whole).unwrap();
    std::fs::write(dir.path().join("half.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let copy = "COPY (SELECT * FROM 'half.parquet') TO 'x.parquet'";
    let output = nodefusion(dir.path(), &["sql", copy]);
    let message = stderr(&output);
    assert!(!output.status.success());
    assert!(
        message.contains("input 'half.parquet': not a Parquet file"),
        "{message}"
    );
    assert!(!dir.path().join("x.parquet").exists());
}

#[test]
fn a_misspelt_key_of_a_node_is_named_with_the_keys_there_are() {
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 10, 1);
    let text = "[input]\npath = \"docs.parquet\"\n[output]\npath = \"out/result.parquet\"\n\
                [[nodes]]\nname = \"words\"\nfucntion = \"word_count\"\ninputs = [\"text\"]\n";
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let message = refused(dir.path(), &[]);
    assert!(
        message.contains(
            "node 'words': unknown key 'fucntion' (did you mean 'function'?); the keys are name, function"
        ),
        "{message}"
    );
}

#[test]
fn a_parquet_file_with_two_columns_of_one_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    int_columns_file(&dir.path().join("twice.parquet"), &["text", "text"]);
    pipeline(dir.path(), "twice.parquet", "");
    let message = refused(dir.path(), &[]);
    assert!(
        message.contains("twice.parquet': two columns are named 'text'"),
        "{message}"
    );
}

#[test]
fn bad_settings_and_outputs_name_the_option_and_value() {
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 50, 1);
    let cases: [(&str, &[&str], &str); 8] = [
        (
            "batch_size = \"lots\"",
            &[],
            "node 'clean': batch_size must be a whole number or `auto`: got 'lots'",
        ),
        (
            "precision = \"int8\"",
            &[],
            "node 'clean': precision must be `auto`, `fp32`, `bf16` or `int16`: got 'int8'",
        ),
        (
            "batch_size = 1000000000000",
            &[],
            "node 'clean': batch_size must be between 1 and 16777216 rows or 'auto', got 1000000000000",
        ),
        (
            "batch_size = -4",
            &[],
            "node 'clean': batch_size must be a whole number or `auto`: got -4",
        ),
        (
            "",
            &["--set", "nodes.clean.max_concurrency=0"],
            "max_concurrency must be at least 1",
        ),
        (
            "",
            &["--set", "output.row_group_size=0"],
            "row_group_size must be at least 1",
        ),
        (
            "",
            &["--output", ""],
            "output.path: '' names no file or directory",
        ),
        (
            "",
            &["--set", "nodes.clean.inputs=[\"txet\"]"],
            "node 'clean': unknown column 'txet' (did you mean 'text'?)",
        ),
    ];
    for (extra, args, expected) in cases {
        pipeline(dir.path(), "docs.parquet", extra);
        let message = refused(dir.path(), args);
        assert!(message.contains(expected), "{extra} {args:?}: {message}");
    }
}

#[test]
fn files_of_a_directory_that_disagree_on_a_column_type_are_both_named() {
    let dir = tempfile::tempdir().unwrap();
    let documents = dir.path().join("docs");
    std::fs::create_dir_all(&documents).unwrap();
    docs_file(&documents, "a.parquet", 50, 1);
    int_columns_file(&documents.join("b.parquet"), &["text"]);
    pipeline(dir.path(), "docs", "");
    let message = refused(dir.path(), &[]);
    assert!(
        message.contains("b.parquet': column 'text' is Int64 here but Utf8")
            && message.contains("a.parquet; the files of one input must agree"),
        "{message}"
    );
}

/// A directory of JSON lines: `a.json` whole, `b.json` with `lines` good lines, then one
/// broken line, then one more good line.
fn json_with_a_broken_line(dir: &Path, lines: usize) {
    let json = dir.join("json");
    std::fs::create_dir_all(&json).unwrap();
    let line = |id: usize| format!("{{\"id\": {id}, \"text\": \"Words number {id}\"}}\n");
    std::fs::write(json.join("a.json"), (0..3).map(line).collect::<String>()).unwrap();
    let mut text: String = (0..lines).map(line).collect();
    text.push_str("{\"id\": 7, \"text\": \"no end\n");
    text.push_str(&line(8));
    std::fs::write(json.join("b.json"), text).unwrap();
}

#[test]
fn a_broken_json_line_is_named_by_file_and_line() {
    // Line 2 breaks the schema's inference; line 3,001 breaks the run after it.
    for (good_lines, line) in [(1, 2), (3000, 3001)] {
        let dir = tempfile::tempdir().unwrap();
        json_with_a_broken_line(dir.path(), good_lines);
        pipeline(dir.path(), "json/\"\nformat = \"json", "");
        let message = refused(dir.path(), &[]);
        assert!(
            message.contains(&format!("b.json': line {line}: EOF while parsing a string")),
            "{message}"
        );
    }
}

#[test]
fn invalid_utf8_in_a_parquet_string_column_is_named_by_file_and_column() {
    use datafusion::parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use datafusion::parquet::file::writer::SerializedFileWriter;
    use datafusion::parquet::schema::parser::parse_message_type;

    let dir = tempfile::tempdir().unwrap();
    let documents = dir.path().join("docs");
    std::fs::create_dir_all(&documents).unwrap();
    // A writer that does not check UTF-8 (the parquet crate's column API) put bytes that
    // are not UTF-8 in a STRING column of the second file.
    let texts = |name: &str, values: &[ByteArray]| {
        let schema = "message m { required int64 id; required binary text (STRING); }";
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let file = std::fs::File::create(documents.join(name)).unwrap();
        let mut writer = SerializedFileWriter::new(file, schema, Default::default()).unwrap();
        let mut row_group = writer.next_row_group().unwrap();
        let mut ids = row_group.next_column().unwrap().unwrap();
        let numbers: Vec<i64> = (0..values.len() as i64).collect();
        ids.typed::<Int64Type>()
            .write_batch(&numbers, None, None)
            .unwrap();
        ids.close().unwrap();
        let mut text = row_group.next_column().unwrap().unwrap();
        text.typed::<ByteArrayType>()
            .write_batch(values, None, None)
            .unwrap();
        text.close().unwrap();
        row_group.close().unwrap();
        writer.close().unwrap();
    };
    texts(
        "a.parquet",
        &[ByteArray::from("fine"), ByteArray::from("also")],
    );
    texts(
        "b.parquet",
        &[ByteArray::from("fine"), ByteArray::from(vec![b'h', 0xff])],
    );
    let text = "[input]\npath = \"docs\"\n[output]\npath = \"out/result.parquet\"\n\
                [[nodes]]\nname = \"clean\"\nfunction = \"normalize_text\"\ninputs = [\"text\"]\n\
                [defaults]\npartitions = 1\n";
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let message = refused(dir.path(), &[]);
    assert!(message.contains("b.parquet': column 'text': "), "{message}");
    assert!(message.contains("non UTF-8 data"), "{message}");
}

#[test]
fn a_sql_node_that_fails_names_the_node_its_expression_and_the_row() {
    let dir = tempfile::tempdir().unwrap();
    docs_file(dir.path(), "docs.parquet", 50, 1);
    let text = "[input]\npath = \"docs.parquet\"\n[output]\npath = \"out/result.parquet\"\n\
                [[nodes]]\nname = \"short\"\nsql = \"word_count(text) < 30\"\n\
                [[nodes]]\nname = \"as_number\"\nsql = \"CASE WHEN short THEN 1 ELSE CAST(text AS INT) END\"\n";
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let message = refused(dir.path(), &[]);
    assert!(
        message.contains(
            "node 'as_number' (CASE WHEN short THEN 1 ELSE CAST(CAST(text AS Int32) AS Int64) END) \
             failed on row "
        ),
        "{message}"
    );
    assert!(message.contains("Cannot cast string"), "{message}");
}

#[test]
fn a_column_only_some_files_of_a_directory_have_reads_as_null_in_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let numbers = dir.path().join("numbers");
    std::fs::create_dir_all(&numbers).unwrap();
    int_columns_file(&numbers.join("a.parquet"), &["id"]);
    int_columns_file(&numbers.join("b.parquet"), &["id", "extra"]);
    let text = "[input]\npath = \"numbers\"\n[output]\npath = \"out/result.parquet\"\n\
                [[nodes]]\nname = \"twice\"\nsql = \"id * 2\"\n";
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let output = nodefusion(dir.path(), &["run", "pipeline.toml", "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        crate::support::parquet_rows(&dir.path().join("out/result.parquet")),
        [
            "{id: 1, extra: null, twice: 2}",
            "{id: 2, extra: null, twice: 4}",
            "{id: 1, extra: 1, twice: 2}",
            "{id: 2, extra: 2, twice: 4}"
        ]
    );
    // Into a directory, the files run one at a time, each with every file's columns.
    let output = nodefusion(
        dir.path(),
        &["run", "pipeline.toml", "--quiet", "--output", "out/parts"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let parts = crate::support::files_below(&dir.path().join("out/parts"));
    let rows: Vec<String> = parts
        .iter()
        .flat_map(|part| crate::support::parquet_rows(&dir.path().join("out/parts").join(part)))
        .collect();
    assert_eq!(
        rows,
        [
            "{id: 1, extra: null, twice: 2}",
            "{id: 2, extra: null, twice: 4}",
            "{id: 1, extra: 1, twice: 2}",
            "{id: 2, extra: 2, twice: 4}"
        ]
    );
}

#[test]
fn files_that_cannot_be_read_as_rows_and_pipelines_that_cannot_run_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("no_files")).unwrap();
    std::fs::write(dir.path().join("ragged.csv"), "id,text\n1,hello\n2,a,b,c\n").unwrap();
    std::fs::write(dir.path().join("empty.csv"), "").unwrap();
    docs_file(dir.path(), "docs.parquet", 20, 1);
    // (input, the node section's end, arguments, what the error must say)
    let cases: [(&str, &str, &[&str], &str); 5] = [
        (
            "ragged.csv",
            "",
            &[],
            "ragged.csv': Error when processing CSV file",
        ),
        (
            "no_files",
            "",
            &[],
            "input 'no_files': no parquet file there",
        ),
        (
            "empty.csv",
            "",
            &[],
            "input 'empty.csv': no columns: an empty file, or a CSV file without its header row",
        ),
        (
            "docs.parquet",
            "output = \"clean\"\n[[nodes]]\nname = \"own\"\nsql = \"upper(own)\"\n",
            &[],
            "the nodes form a cycle: own -> own",
        ),
        (
            "docs.parquet",
            "",
            &["--set", "defaults.partitions=0"],
            "defaults.partitions must be at least 1",
        ),
    ];
    for (input, extra, args, expected) in cases {
        pipeline(dir.path(), input, extra);
        let message = refused(dir.path(), args);
        assert!(message.contains(expected), "{input} {args:?}: {message}");
    }
    std::fs::write(dir.path().join("pipeline.toml"), "[input\npath = 1\n").unwrap();
    let message = stderr(&nodefusion(dir.path(), &["run", "pipeline.toml"]));
    assert!(
        message.contains("pipeline.toml: TOML parse error at line 1, column 7"),
        "{message}"
    );
}

#[test]
fn all_null_columns_and_multi_megabyte_strings_come_out_whole() {
    let dir = tempfile::tempdir().unwrap();
    let big = "word ".repeat(1_000_000);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("nothing", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(datafusion::arrow::array::StringArray::from(vec![
                Some(big.as_str()),
                None,
                Some(""),
            ])),
            Arc::new(datafusion::arrow::array::StringArray::from(vec![
                None::<&str>,
                None,
                None,
            ])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(dir.path().join("odd.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let text = "[input]\npath = \"odd.parquet\"\n[output]\npath = \"out/result.parquet\"\n\
                [[nodes]]\nname = \"words\"\nfunction = \"word_count\"\ninputs = [\"text\"]\n\
                [[nodes]]\nname = \"none\"\nfunction = \"word_count\"\ninputs = [\"nothing\"]\n";
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let output = nodefusion(dir.path(), &["run", "pipeline.toml", "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = crate::support::parquet_rows(&dir.path().join("out/result.parquet"));
    assert_eq!(rows.len(), 3);
    assert!(
        rows[0].ends_with("nothing: null, words: 1000000, none: null}"),
        "{}",
        &rows[0][rows[0].len() - 60..]
    );
    assert_eq!(
        rows[1],
        "{id: 2, text: null, nothing: null, words: null, none: null}"
    );
    assert_eq!(
        rows[2],
        "{id: 3, text: \"\", nothing: null, words: 0, none: null}"
    );
}
