//! [`Input`]: a pipeline's source rows. A path may be a file, a directory, a glob or an
//! object-store URL; files of a directory are read in path order.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};

use super::listing_url::listing_url;
use super::local_files;
use super::parquet_files::check_local_parquet;
use super::read_failure::{is_read_error, locate_read_failure};
use super::register_object_store;
use super::store_error::store_failure;
use crate::error::{Error, Result};

/// A file format nodefusion reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// Newline-delimited JSON objects.
    Json,
}

impl FileFormat {
    /// The format a path's extension implies, if any.
    pub fn from_extension(path: &str) -> Option<Self> {
        let extension = Path::new(path.trim_end_matches('/'))
            .extension()?
            .to_str()?
            .to_ascii_lowercase();
        match extension.as_str() {
            "parquet" | "pq" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            "json" | "jsonl" | "ndjson" => Some(Self::Json),
            _ => None,
        }
    }

    /// Parses a format name: `parquet`, `csv` or `json`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "parquet" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            "json" | "ndjson" => Some(Self::Json),
            _ => None,
        }
    }

    pub(super) fn listing_options(self) -> ListingOptions {
        match self {
            Self::Parquet => ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet"),
            Self::Csv => ListingOptions::new(Arc::new(CsvFormat::default().with_has_header(true)))
                .with_file_extension(".csv"),
            Self::Json => {
                ListingOptions::new(Arc::new(JsonFormat::default())).with_file_extension(".json")
            }
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Json => "json",
        })
    }
}

#[derive(Debug, Clone)]
enum Source {
    Files {
        location: String,
        format: FileFormat,
    },
    Batches {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
}

/// A pipeline's source rows.
#[derive(Debug, Clone)]
pub struct Input {
    source: Source,
    /// The schema the files are read with, where it is not inferred from them.
    schema: Option<SchemaRef>,
}

impl Input {
    /// Files at `location`, in the format their extension implies (Parquet by default).
    pub fn path(location: impl Into<String>) -> Self {
        let location = location.into();
        let format = FileFormat::from_extension(&location).unwrap_or(FileFormat::Parquet);
        Self {
            source: Source::Files { location, format },
            schema: None,
        }
    }

    /// These files read as `format` whatever their extension.
    pub fn with_format(self, format: FileFormat) -> Self {
        match self.source {
            Source::Files { location, .. } => Self {
                source: Source::Files { location, format },
                schema: self.schema,
            },
            batches => Self {
                source: batches,
                schema: self.schema,
            },
        }
    }

    /// Record batches in memory.
    pub fn batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Self {
            source: Source::Batches { schema, batches },
            schema: None,
        }
    }

    /// The location, or "record batches" for input in memory.
    pub fn location(&self) -> &str {
        match &self.source {
            Source::Files { location, .. } => location,
            Source::Batches { .. } => "record batches",
        }
    }

    /// The format of input files; `None` for record batches in memory.
    pub fn file_format(&self) -> Option<FileFormat> {
        match &self.source {
            Source::Files { format, .. } => Some(*format),
            Source::Batches { .. } => None,
        }
    }

    /// The schema of input in memory; `None` for files.
    pub(crate) fn in_memory_schema(&self) -> Option<&SchemaRef> {
        match &self.source {
            Source::Files { .. } => None,
            Source::Batches { schema, .. } => Some(schema),
        }
    }

    /// The input as a table DataFusion can scan.
    pub async fn table(&self, state: &dyn Session) -> Result<Arc<dyn TableProvider>> {
        match &self.source {
            Source::Batches { schema, batches } => {
                let table = MemTable::try_new(Arc::clone(schema), vec![batches.clone()])?;
                Ok(Arc::new(table))
            }
            Source::Files { location, format } => {
                // One line: DataFusion's context ("Error when processing CSV file ...")
                // and its cause joined.
                let input_error = |message: String| Error::Input {
                    path: location.clone(),
                    message: message.replace("\ncaused by\n", ": "),
                };
                register_object_store(state.runtime_env(), location)?;
                let sometimes_missing = match format {
                    FileFormat::Parquet => check_local_parquet(location)?,
                    _ => Vec::new(),
                };
                let url = listing_url(location).map_err(|e| input_error(e.strip_backtrace()))?;
                let mut options = format.listing_options();
                if Path::new(location).is_file() {
                    // A file named explicitly is read whatever its extension.
                    options = options.with_file_extension("");
                }
                let config = ListingTableConfig::new(url).with_listing_options(options);
                let inferred = match &self.schema {
                    Some(schema) => Ok(config.with_schema(Arc::clone(schema))),
                    None => config.infer_schema(state).await,
                };
                let config = match inferred {
                    Ok(config) => config,
                    Err(error) => {
                        if let Some(message) = store_failure(&error) {
                            return Err(input_error(message));
                        }
                        if error.to_string().contains("No files found") {
                            return Err(input_error(format!(
                                "no {format} file there (nothing at that path or URL, nor \
                                 under it with the extension .{format})"
                            )));
                        }
                        let located = match is_read_error(&error) {
                            true => self.locate_read_failure(None, state).await,
                            false => None,
                        };
                        return Err(located.unwrap_or(input_error(error.strip_backtrace())));
                    }
                };
                if config
                    .file_schema
                    .as_ref()
                    .is_some_and(|schema| schema.fields().is_empty())
                {
                    return Err(input_error(
                        "no columns: an empty file, or a CSV file without its header row".into(),
                    ));
                }
                // A column some files lack reads as NULL there, whatever the others say.
                let config = match config.file_schema.clone() {
                    Some(schema) if !sometimes_missing.is_empty() => {
                        config.with_schema(Arc::new(nullable(&schema, &sometimes_missing)))
                    }
                    _ => config,
                };
                let table =
                    ListingTable::try_new(config).map_err(|e| input_error(e.strip_backtrace()))?;
                Ok(Arc::new(table))
            }
        }
    }

    /// These files read with `schema` (the columns of every file of a larger input), not
    /// with the schema their own footers give.
    pub(crate) fn with_schema(self, schema: SchemaRef) -> Self {
        Self {
            schema: Some(schema),
            ..self
        }
    }

    /// One input per local file of this one, in the order they are read (none for a glob,
    /// a URL or batches in memory).
    pub fn local_file_inputs(&self) -> Vec<Input> {
        match &self.source {
            Source::Files { location, format } => local_files(location, &format.to_string())
                .into_iter()
                .map(|file| Input {
                    source: Source::Files {
                        location: file.to_string_lossy().into_owned(),
                        format: *format,
                    },
                    schema: self.schema.clone(),
                })
                .collect(),
            Source::Batches { .. } => Vec::new(),
        }
    }

    /// After a read of this input with `schema` failed: the error of the first local file
    /// that fails to read, naming the file and the line or column where the reader does
    /// not (see [`locate_read_failure`]); `None` for input in memory or out of reach.
    pub(crate) async fn locate_read_failure(
        &self,
        schema: Option<&SchemaRef>,
        state: &dyn Session,
    ) -> Option<Error> {
        match &self.source {
            Source::Files { location, format } => {
                locate_read_failure(location, *format, schema, state).await
            }
            Source::Batches { .. } => None,
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Files { location, format } => write!(f, "{location} ({format})"),
            Source::Batches { batches, .. } => write!(f, "{} record batches", batches.len()),
        }
    }
}

/// `schema` with `columns` nullable.
fn nullable(schema: &Schema, columns: &[String]) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let nullable = field.is_nullable() || columns.contains(field.name());
            field.as_ref().clone().with_nullable(nullable)
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(FileFormat::from_extension("a/b.CSV"), Some(FileFormat::Csv));
        assert_eq!(
            FileFormat::from_extension("s3://b/x.parquet"),
            Some(FileFormat::Parquet)
        );
        assert_eq!(FileFormat::from_extension("dir/"), None);
        assert_eq!(FileFormat::parse("json"), Some(FileFormat::Json));
    }
}
