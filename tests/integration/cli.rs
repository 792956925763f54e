//! The `nodefusion` command line, run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{docs_file, nodefusion, stderr, stdout};

/// A working directory with the sample documents and the project's main pipeline file.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    docs_file(&dir.path().join("data"), "docs.parquet", 400, 42);
    let main_pipeline = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/clean_docs.toml");
    std::fs::copy(main_pipeline, dir.path().join("pipelines/clean_docs.toml")).unwrap();
    dir
}

fn sql_rows(dir: &Path, query: &str) -> Vec<String> {
    let output = nodefusion(dir, &["sql", query, "--format", "csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn run_executes_the_main_pipeline_and_prints_a_summary() {
    let dir = workspace();
    let output = nodefusion(dir.path(), &["run", "pipelines/clean_docs.toml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stdout(&output);
    assert!(
        summary.starts_with("clean_docs: 400 rows in, 400 rows out in "),
        "{summary}"
    );
    let timed = |node: &str| {
        summary
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .find(|words| words.first() == Some(&node))
            .and_then(|words| words.get(2).copied())
            .and_then(|milliseconds| milliseconds.parse::<f64>().ok())
    };
    // Plain (projection) nodes and the embedding node both report the time they took.
    for node in ["clean", "embed_title"] {
        assert!(timed(node).is_some_and(|ms| ms > 0.0), "{node}: {summary}");
    }
    for node in ["clean", "words", "short", "embed_title"] {
        assert!(
            summary
                .lines()
                .any(|line| line.trim_start().starts_with(node)),
            "{summary}"
        );
    }
    assert!(
        summary.contains("wrote out/clean_docs.parquet"),
        "{summary}"
    );
    assert_eq!(
        sql_rows(
            dir.path(),
            "SELECT count(*), count(DISTINCT id), \
             count(*) FILTER (WHERE round(vector_norm(title_vector), 3) = 1.0) \
             FROM 'out/clean_docs.parquet'"
        ),
        vec!["400,400,400"]
    );
    // mode = "overwrite": running again replaces the output rather than adding to it.
    assert!(
        nodefusion(dir.path(), &["run", "pipelines/clean_docs.toml", "--quiet"])
            .status
            .success()
    );
    assert_eq!(
        sql_rows(dir.path(), "SELECT count(*) FROM 'out/clean_docs.parquet'"),
        vec!["400"]
    );
}

#[test]
fn input_output_and_set_override_the_file() {
    let dir = workspace();
    docs_file(&dir.path().join("data"), "other.parquet", 90, 7);
    let output = nodefusion(
        dir.path(),
        &[
            "run",
            "pipelines/clean_docs.toml",
            "--input",
            "data/other.parquet",
            "--output",
            "out/other.parquet",
            "--set",
            "defaults.batch_size=7",
            "--set",
            "nodes.clean.batch_size=3",
            "--set",
            "output.columns=[\"id\", \"words\"]",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        sql_rows(
            dir.path(),
            "SELECT count(*), min(id), max(id) FROM 'out/other.parquet'"
        ),
        vec!["90,0,89"]
    );
    let explain = nodefusion(
        dir.path(),
        &[
            "explain",
            "pipelines/clean_docs.toml",
            "--set",
            "defaults.batch_size=7",
            "--set",
            "nodes.clean.batch_size=3",
        ],
    );
    let text = stdout(&explain);
    assert!(
        text.contains("clean: normalize_text(text) -> clean_text  [native, batch_size=3]"),
        "{text}"
    );
    assert!(
        text.contains("words: word_count(clean_text) -> words  [native, batch_size=7]"),
        "{text}"
    );
    assert!(text.contains("RechunkExec: batch_size=3"), "{text}");
}

#[test]
fn errors_go_to_stderr_once_with_a_non_zero_exit() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[input]\npath = \"data/docs.parquet\"\n[output]\npath = \"out/x.parquet\"\n\
         [[nodes]]\nname = \"clean\"\nfunction = \"normalize_text\"\ninputs = [\"txt\"]\n",
    )
    .unwrap();
    let output = nodefusion(dir.path(), &["run", "bad.toml"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: node 'clean': unknown column 'txt' (did you mean 'text'?)\n"
    );
    assert!(stdout(&output).is_empty());
    assert!(!dir.path().join("out/x.parquet").exists());
}

#[test]
fn an_unknown_key_in_a_pipeline_file_is_named() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("typo.toml"),
        "[input]\npath = \"data/docs.parquet\"\n[[nodes]]\nname = \"clean\"\nfunction = \"normalize_text\"\ninputs = [\"text\"]\nbatchsize = 4\n",
    )
    .unwrap();
    let output = nodefusion(dir.path(), &["explain", "typo.toml"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.starts_with("error: typo.toml: "), "{message}");
    assert!(
        message.contains(
            "node 'clean': unknown key 'batchsize' (did you mean 'batch_size'?); the keys are \
             name, function, sql, pipeline, python, native, inputs, output, params, map_inputs, \
             map_outputs, batch_size, max_concurrency"
        ),
        "{message}"
    );
}

#[test]
fn set_on_an_unknown_node_suggests_the_nearest() {
    let dir = workspace();
    let output = nodefusion(
        dir.path(),
        &[
            "run",
            "pipelines/clean_docs.toml",
            "--set",
            "nodes.clen.batch_size=4",
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(
            "--set nodes.clen.batch_size=4: no node named 'clen' (did you mean 'clean'?)"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_existing_output_is_refused_in_error_mode() {
    let dir = workspace();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/clean_docs.parquet"), b"precious").unwrap();
    let output = nodefusion(
        dir.path(),
        &[
            "run",
            "pipelines/clean_docs.toml",
            "--set",
            "output.mode=\"error\"",
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/clean_docs.parquet")).unwrap(),
        b"precious"
    );
}

#[test]
fn explain_prints_the_dag_mermaid_and_the_plans() {
    let dir = workspace();
    let output = nodefusion(dir.path(), &["explain", "pipelines/clean_docs.toml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "== DAG ==",
        "clean: normalize_text(text) -> clean_text",
        "short: sql(words < 50) -> is_short",
        "flowchart LR",
        "input -->|text| n0",
        "n1 -->|words| n2",
        "== Logical plan ==",
        "TableScan: input projection=[id, title, text, category]",
        "== Physical plan ==",
        "ScatterExec: partitions=2",
        "GatherExec",
        "NodeExec: embed_title=embed(title@1) batch_size=256",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn sql_prints_tables_csv_json_and_writes_parquet() {
    let dir = workspace();
    let query =
        "SELECT id, word_count(text) AS words FROM 'data/docs.parquet' WHERE id < 2 ORDER BY id";
    let table = stdout(&nodefusion(dir.path(), &["sql", query]));
    assert!(table.contains("| id | words |"), "{table}");
    let csv = stdout(&nodefusion(dir.path(), &["sql", query, "--format", "csv"]));
    assert!(csv.starts_with("id,words\n0,"), "{csv}");
    let json = stdout(&nodefusion(dir.path(), &["sql", query, "--format", "json"]));
    assert!(json.starts_with("{\"id\":0,\"words\":"), "{json}");
    let written = nodefusion(
        dir.path(),
        &[
            "sql",
            query,
            "--format",
            "parquet",
            "--output",
            "two.parquet",
        ],
    );
    assert!(written.status.success(), "{}", stderr(&written));
    assert_eq!(
        sql_rows(dir.path(), "SELECT count(*) FROM 'two.parquet'"),
        vec!["2"]
    );
}

#[test]
fn sql_runs_a_file_of_statements() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("q.sql"),
        "CREATE EXTERNAL TABLE docs STORED AS PARQUET LOCATION 'data/docs.parquet';\n\
         -- a comment\nSELECT count(*) AS n FROM docs WHERE text IS NULL OR word_count(text) >= 0;\n",
    )
    .unwrap();
    let output = nodefusion(dir.path(), &["sql", "-f", "q.sql", "--format", "csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "n\n400\n");
}

#[test]
fn the_shell_runs_statements_until_quit_and_survives_errors() {
    let dir = workspace();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nodefusion"))
        .arg("sql")
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"SELECT no_such_function(1);\nSELECT normalize_text('A, B')\n  AS cleaned;\n\\q\n",
        )
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(
        stdout(&output).contains("| a b     |"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("no_such_function"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn functions_lists_every_function_with_signature_and_description() {
    let dir = workspace();
    let text = stdout(&nodefusion(dir.path(), &["functions"]));
    let ours = text.split("DataFusion scalar functions").next().unwrap();
    for expected in [
        "normalize_text(text)",
        "word_count(text)",
        "chunk_text(text, max_chars, overlap)",
        "cosine_similarity(a, b)",
        "dot_product(a, b)",
        "l2_distance(a, b)",
        "vector_norm(a)",
        "Counts the whitespace-separated words of a text.",
    ] {
        assert!(ours.contains(expected), "missing {expected:?}");
    }
    assert!(text.contains("DataFusion scalar functions"));
    assert!(
        text.lines()
            .any(|line| line.trim_start().starts_with("lower(")),
        "lower is listed"
    );
    assert!(text.contains("DataFusion aggregate functions"));
}

#[test]
fn gen_docs_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    for (name, seed) in [("a.parquet", "5"), ("b.parquet", "5"), ("c.parquet", "6")] {
        let output = nodefusion(
            dir.path(),
            &[
                "gen-docs", "--rows", "300", "--seed", seed, "--output", name,
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    assert_eq!(read("a.parquet"), read("b.parquet"));
    assert_ne!(read("a.parquet"), read("c.parquet"));
    assert_eq!(
        sql_rows(dir.path(), "SELECT count(*), min(character_length(text)), max(character_length(text)) <= 4000 FROM 'a.parquet'")[0]
            .split(',')
            .collect::<Vec<_>>()[..2],
        ["300", "20"][..]
    );
}

#[test]
fn nested_pipeline_files_and_parameters_run() {
    let dir = workspace();
    for name in ["cleaning.toml", "title_stats.toml"] {
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("pipelines")
            .join(name);
        std::fs::copy(source, dir.path().join("pipelines").join(name)).unwrap();
    }
    let output = nodefusion(
        dir.path(),
        &["run", "pipelines/title_stats.toml", "--quiet"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stdout(&output);
    for node in [
        "titles/clean",
        "titles/count",
        "texts/clean",
        "texts/count",
        "chunks",
        "wordy_title",
    ] {
        assert!(summary.contains(node), "{node} missing from {summary}");
    }
    let checked = sql_rows(
        dir.path(),
        "SELECT count(*), sum(CASE WHEN o.title_words = word_count(normalize_text(d.title)) \
         AND (o.text_words IS NOT DISTINCT FROM word_count(normalize_text(d.text))) \
         AND (o.chunks IS NOT DISTINCT FROM chunk_text(d.text, 200, 40)) \
         AND o.wordy_title = (o.title_words > 5) THEN 1 ELSE 0 END) \
         FROM 'out/title_stats.parquet' o JOIN 'data/docs.parquet' d ON o.id = d.id",
    );
    assert_eq!(checked, vec!["400,400"]);
}

#[test]
fn stateful_node_settings_come_from_the_file_and_set() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("tokens.toml"),
        "[input]\npath = \"data/docs.parquet\"\n[output]\npath = \"out/tokens.parquet\"\ncolumns = [\"id\", \"tokens\"]\n\
         [defaults]\npartitions = 2\non_error = \"null\"\n\
         [[nodes]]\nname = \"tokens\"\nfunction = \"token_count\"\ninputs = [\"text\"]\nmax_concurrency = 1\n",
    )
    .unwrap();
    let explain = nodefusion(
        dir.path(),
        &[
            "explain",
            "tokens.toml",
            "--set",
            "nodes.tokens.batch_size=16",
        ],
    );
    let text = stdout(&explain);
    assert!(
        text.contains(
            "NodeExec: tokens=token_count(text@1) batch_size=16 max_concurrency=1 on_error=null"
        ),
        "{text}{}",
        stderr(&explain)
    );
    let run = nodefusion(
        dir.path(),
        &[
            "run",
            "tokens.toml",
            "--quiet",
            "--set",
            "nodes.tokens.batch_size=16",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let summary = stdout(&run);
    assert!(summary.contains("instances 1 (init"), "{summary}");
    assert_eq!(
        sql_rows(
            dir.path(),
            "SELECT count(*), count(tokens) = count(text), \
             sum(CASE WHEN tokens >= word_count(text) THEN 1 ELSE 0 END) = count(text) \
             FROM 'out/tokens.parquet' o JOIN 'data/docs.parquet' d USING (id)"
        ),
        vec!["400,true,true"]
    );
}

fn nodefusion_with_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nodefusion"));
    command.args(args).current_dir(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

#[test]
fn model_pull_installs_from_the_hub_and_the_model_then_works() {
    let dir = tempfile::tempdir().unwrap();
    // A hub on 127.0.0.1 with the Hugging Face layout: /<model>/resolve/main/<file>.
    let installed = nodefusion_model::resolve(nodefusion_model::DEFAULT_MODEL).unwrap();
    let served = dir.path().join("hub/test-org/mini/resolve/main");
    for file in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ] {
        let target = served.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(installed.join(file), target).unwrap();
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hub = dir.path().join("hub");
    let endpoint = runtime.block_on(crate::support::serve_files(hub));
    let models = dir.path().join("models");
    let env = [
        ("HF_ENDPOINT", Path::new(&endpoint)),
        ("NODEFUSION_MODELS", models.as_path()),
    ];

    let pulled = nodefusion_with_env(dir.path(), &["model", "pull", "test-org/mini"], &env);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert_eq!(
        std::fs::read(models.join("test-org/mini/model.safetensors")).unwrap(),
        std::fs::read(installed.join("model.safetensors")).unwrap()
    );
    let listed = nodefusion_with_env(dir.path(), &["model", "list"], &env);
    assert!(
        stdout(&listed).contains("test-org/mini"),
        "{}",
        stdout(&listed)
    );

    let query = "SELECT round(vector_norm(embed('hello', 'test-org/mini')), 3) AS norm";
    let norm = nodefusion_with_env(dir.path(), &["sql", query, "--format", "csv"], &env);
    assert!(norm.status.success(), "{}", stderr(&norm));
    assert_eq!(stdout(&norm).lines().nth(1), Some("1.0"));

    // A model the hub lacks: an error naming the file, and nothing left behind.
    let missing = nodefusion_with_env(dir.path(), &["model", "pull", "test-org/absent"], &env);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("404"), "{}", stderr(&missing));
    assert!(!models.join("test-org/absent").exists());
    assert!(!models.join(".staging/test-org/absent").exists());
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let dir = workspace();
    // Megabytes of CSV: the writes outlast the pipe's buffer, so they meet the closed pipe.
    let many_rows = "SELECT value, value * 2 AS twice FROM generate_series(1, 200000)";
    for args in [
        &["sql", many_rows, "--format", "csv"][..],
        &["sql", many_rows][..],
        &["functions"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nodefusion"))
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let message = stderr(&output);
        assert!(output.status.success(), "{args:?}: {message}");
        assert!(message.is_empty(), "{args:?}: {message}");
    }
}

#[test]
fn leftovers_of_a_killed_run_are_cleared_by_the_next_run_to_the_target() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("p.toml"),
        "[input]\npath = \"data/docs.parquet\"\n[output]\npath = \"out/r.parquet\"\n\
         [[nodes]]\nname = \"clean\"\nfunction = \"normalize_text\"\ninputs = [\"text\"]\n",
    )
    .unwrap();
    // What a run killed before its commit leaves (its process, u32::MAX, is long gone).
    let leftover = dir
        .path()
        .join(format!("out/.r.parquet.nodefusion-staging-{}-0", u32::MAX));
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("data.parquet"), b"half a file").unwrap();
    let output = nodefusion(dir.path(), &["run", "p.toml", "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!leftover.exists());
    let summary = stdout(&output);
    assert!(
        summary.contains("removed") && summary.contains("left by an interrupted run"),
        "{summary}"
    );
    assert_eq!(
        sql_rows(dir.path(), "SELECT count(*) FROM 'out/r.parquet'"),
        ["400"]
    );
}
