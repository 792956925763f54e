//! `nodefusion sql`: statements from the command line or a file, or an interactive shell;
//! results as a table, CSV, JSON lines or Parquet.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, bail};
use datafusion::arrow::csv::Writer as CsvWriter;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use futures::StreamExt;
use nodefusion::{Location, Output, WriteMode, new_context};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::{OutputFormat, SqlArgs};

/// Runs `nodefusion sql`.
pub async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let ctx = match &args.cluster {
        Some(url) => nodefusion::cluster::connect(url).await?,
        None => new_context()?,
    };
    let text = match (&args.query, &args.file) {
        (Some(query), _) => query.clone(),
        (None, Some(file)) => {
            std::fs::read_to_string(file).map_err(|error| anyhow!("{}: {error}", file.display()))?
        }
        (None, None) => return shell(&ctx).await,
    };
    if args.format == OutputFormat::Parquet && args.output.is_none() {
        bail!("--format parquet needs --output PATH");
    }
    run_statements(&ctx, &text, args.format, args.output.as_deref()).await
}

/// Plans and runs each statement of `text` in turn, printing each result.
async fn run_statements(
    ctx: &SessionContext,
    text: &str,
    format: OutputFormat,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let statements = DFParser::parse_sql(text)?;
    for statement in statements {
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        let frame = ctx.execute_logical_plan(plan).await?;
        if frame.schema().fields().is_empty() {
            // A statement without a result (CREATE, SET, ...): run it, print nothing.
            frame.collect().await?;
        } else {
            emit(frame, format, output).await?;
        }
    }
    Ok(())
}

/// Writes the rows of `frame` in `format` to `output` or stdout.
async fn emit(frame: DataFrame, format: OutputFormat, output: Option<&Path>) -> anyhow::Result<()> {
    if format == OutputFormat::Parquet {
        let target = output.ok_or_else(|| anyhow!("--format parquet needs --output PATH"))?;
        let staging = Output::parquet(target)
            .mode(WriteMode::Overwrite)
            .stage(&frame.task_ctx().runtime_env())
            .await?;
        let options =
            datafusion::dataframe::DataFrameWriteOptions::new().with_single_file_output(true);
        frame
            .write_parquet(&staging.write_path(), options, None)
            .await?;
        staging.commit().await?;
        return Ok(());
    }
    let closed = Arc::new(AtomicBool::new(false));
    let sink: Box<dyn Write> = match output {
        Some(path) if matches!(Location::parse(path), Ok(Location::Store(_))) => {
            bail!(
                "--output {}: only --format parquet writes to an object store (or write with COPY ... TO)",
                path.display()
            )
        }
        Some(path) => Box::new(File::create(path).map_err(|e| anyhow!("{}: {e}", path.display()))?),
        None => Box::new(Stdout {
            closed: Arc::clone(&closed),
        }),
    };
    let written = write_rows(frame, format, sink).await;
    if closed.load(Ordering::Relaxed) {
        return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe).into());
    }
    written
}

/// Standard output, noting when its reader has gone away: Arrow's CSV writer turns I/O
/// errors into text, which loses the error's kind.
struct Stdout {
    closed: Arc<AtomicBool>,
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().lock().write(buf).inspect_err(|error| {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                self.closed.store(true, Ordering::Relaxed);
            }
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
}

/// Writes the rows of `frame` in `format` (not Parquet) to `sink`.
async fn write_rows(
    frame: DataFrame,
    format: OutputFormat,
    mut sink: Box<dyn Write>,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let batches = frame.collect().await?;
            writeln!(sink, "{}", pretty_format_batches(&batches)?)?;
        }
        OutputFormat::Csv => {
            let mut writer = CsvWriter::new(sink);
            let mut stream = frame.execute_stream().await?;
            while let Some(batch) = stream.next().await {
                writer.write(&batch?)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = LineDelimitedWriter::new(sink);
            let mut stream = frame.execute_stream().await?;
            while let Some(batch) = stream.next().await {
                writer.write(&batch?)?;
            }
            writer.finish()?;
        }
        OutputFormat::Parquet => bail!("Parquet is written to a file, not a stream"),
    }
    Ok(())
}

const SHELL_HELP: &str =
    "Statements end with ';'. \\q quits, \\d lists tables, \\h shows this help.";

/// The interactive shell: statements end with `;`; errors are printed and the shell goes on.
async fn shell(ctx: &SessionContext) -> anyhow::Result<()> {
    let mut editor = DefaultEditor::new()?;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "nodefusion> "
        } else {
            "         -> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(error.into()),
        };
        let trimmed = line.trim();
        if buffer.is_empty() {
            match trimmed {
                "" => continue,
                "\\q" | "quit" | "exit" => break,
                "\\h" | "help" => {
                    out!("{SHELL_HELP}")?;
                    continue;
                }
                "\\d" => {
                    report(run_statements(ctx, "SHOW TABLES", OutputFormat::Table, None).await);
                    continue;
                }
                _ => {}
            }
        }
        let _ = editor.add_history_entry(&line);
        buffer.push_str(&line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            let statements = std::mem::take(&mut buffer);
            report(run_statements(ctx, &statements, OutputFormat::Table, None).await);
        }
    }
    Ok(())
}

fn report(result: anyhow::Result<()>) {
    if let Err(error) = result {
        eprintln!("error: {}", super::message(error));
    }
}
