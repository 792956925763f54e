//! Helpers shared by the integration tests: sample inputs, a real HTTP file server on
//! 127.0.0.1, and ways to look at results.

pub mod cluster;
pub mod embedding_server;
pub mod llm_server;
pub mod s3;
pub mod service;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use nodefusion_udfs::text::LoweredClassReplacement;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Spawns `command` with its stdout piped and reads the URL of the line `listening on URL`
/// the server prints first, once it listens.
pub fn spawn_listening(command: &mut Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, url)
}

/// Runs the `nodefusion` command in `dir`, as a user would.
pub fn nodefusion(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nodefusion"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// What a command printed on stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What a command printed on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `rows` generated documents to `dir/name` and returns the path.
pub fn docs_file(dir: &Path, name: &str, rows: usize, seed: u64) -> PathBuf {
    let path = dir.join(name);
    nodefusion::datagen::write_docs(rows, seed, None, &path).unwrap();
    path
}

/// One column of the results, each value formatted as text ("NULL" for nulls).
pub fn column_text(batches: &[RecordBatch], name: &str) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut values = Vec::new();
    for batch in batches {
        let column: &ArrayRef = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options).unwrap();
        values.extend((0..column.len()).map(|row| formatter.value(row).to_string()));
    }
    values
}

/// The `id` column of the results, in order.
pub fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|batch| {
            let column = batch.column_by_name("id").unwrap();
            column
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Every row of the results as text, columns separated by `|`, in order.
pub fn rows_text(batches: &[RecordBatch]) -> Vec<String> {
    if batches.is_empty() {
        return Vec::new();
    }
    let schema = batches[0].schema();
    let columns: Vec<Vec<String>> = schema
        .fields()
        .iter()
        .map(|field| column_text(batches, field.name()))
        .collect();
    let rows = columns.first().map_or(0, Vec::len);
    (0..rows)
        .map(|row| {
            columns
                .iter()
                .map(|c| c[row].as_str())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Every file below `dir`, recursively, relative to it, sorted.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// Serves the files of `root` over HTTP on 127.0.0.1 (GET with byte ranges, HEAD) and
/// returns the base URL. The server runs until the test's runtime ends.
pub async fn serve_files(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let root = Arc::new(root);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let root = Arc::clone(&root);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let response = respond(&root, &String::from_utf8_lossy(&request));
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

fn respond(root: &Path, request: &str) -> Vec<u8> {
    let mut lines = request.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default();
    let target = first.next().unwrap_or_default().trim_start_matches('/');
    let range = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("range"))
        .map(|(_, value)| value.trim().to_string());
    let Ok(body) = std::fs::read(root.join(target)) else {
        return b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .to_vec();
    };
    let total = body.len();
    let (status, start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(spec) => {
            let (from, to) = spec.split_once('-').unwrap_or((spec, ""));
            let (start, end) = match (from.parse::<usize>(), to.parse::<usize>()) {
                (Ok(start), Ok(end)) => (start, end.min(total - 1)),
                (Ok(start), Err(_)) => (start, total - 1),
                (Err(_), Ok(suffix)) => (total.saturating_sub(suffix), total - 1),
                _ => (0, total - 1),
            };
            ("206 Partial Content", start, end)
        }
        None => ("200 OK", 0, total.saturating_sub(1)),
    };
    let slice = if total == 0 {
        &body[..]
    } else {
        &body[start..=end]
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nlast-modified: Sun, 22 Nov 2026 00:00:00 GMT\r\netag: \"v1\"\r\naccept-ranges: bytes\r\nconnection: close\r\n",
        slice.len()
    );
    if status.starts_with("206") {
        head.push_str(&format!("content-range: bytes {start}-{end}/{total}\r\n"));
    }
    head.push_str("\r\n");
    let mut response = head.into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(slice);
    }
    response
}

/// Writes the rows of the SQL query `select` to the Parquet file `path`.
pub async fn parquet_from_sql(path: &Path, select: &str) {
    let sql = format!("COPY ({select}) TO '{}'", path.display());
    datafusion::prelude::SessionContext::new()
        .sql(&sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
}

/// Runs the Python `script` with the tests' interpreter (`NODEFUSION_TEST_PYTHON`, which
/// scripts/test.sh sets to its virtual environment's, with tests/requirements.txt
/// installed; else `python3`) in `dir`, and returns what it printed; panics with its
/// output when it fails.
pub fn python(dir: &Path, script: &str) -> String {
    let interpreter = std::env::var("NODEFUSION_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&interpreter)
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("{interpreter}: {error} (scripts/test.sh sets it up)"));
    assert!(
        output.status.success(),
        "{interpreter} failed (scripts/test.sh installs tests/requirements.txt):\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Every row of a Parquet file as text, in order, read with the parquet crate's record
/// API (a second reader, not the Arrow one nodefusion writes with).
pub fn parquet_rows(path: &Path) -> Vec<String> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = SerializedFileReader::new(file).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| row.unwrap().to_string())
        .collect()
}

/// How many fused calls (`LoweredClassReplacement`) the expressions of `plan` hold: its
/// projections' and those its file scans took in.
pub fn fused_calls(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let mut expressions: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    plan.apply(|node| {
        if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
            expressions.extend(
                projection
                    .expr()
                    .iter()
                    .map(|projected| Arc::clone(&projected.expr)),
            );
        }
        if let Some(files) = node
            .downcast_ref::<DataSourceExec>()
            .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
            && let Some(projection) = files.file_source().projection()
        {
            expressions.extend(
                projection
                    .iter()
                    .map(|projected| Arc::clone(&projected.expr)),
            );
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    let mut fused = 0;
    for expression in &expressions {
        expression
            .apply(|part| {
                fused += usize::from(part.downcast_ref::<LoweredClassReplacement>().is_some());
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
    }
    fused
}
