//! Which file, line or column a failed read came from. DataFusion's scans report a bad value
//! (bytes that are not UTF-8 in a string column, a broken JSON line) without the file it is
//! in, so after a read failed the input's local files are read again, one by one, until one
//! fails: a JSON file is searched for its first line that is not an object, a Parquet file
//! read column by column for the column that fails. Only a failed run pays for this.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::physical_plan::execute_stream;
use futures::StreamExt;

use super::json_lines::first_bad_json_line;
use super::{FileFormat, local_files};
use crate::error::Error;

/// Whether `error` is a reader's complaint about the data of a file.
pub fn is_read_error(error: &DataFusionError) -> bool {
    match error.find_root() {
        DataFusionError::ParquetError(_) => true,
        DataFusionError::ArrowError(error, _) => matches!(
            error.as_ref(),
            ArrowError::ParquetError(_) | ArrowError::JsonError(_) | ArrowError::CsvError(_)
        ),
        _ => false,
    }
}

/// The error of the first local file at `location` that fails to read as `format` with
/// `schema` (JSON needs none), naming the file and, where the reader does not, the line
/// (JSON) or column (Parquet); `None` when every file reads.
pub async fn locate_read_failure(
    location: &str,
    format: FileFormat,
    schema: Option<&SchemaRef>,
    state: &dyn Session,
) -> Option<Error> {
    for file in local_files(location, &format.to_string()) {
        let failed = |message| Error::Input {
            path: file.display().to_string(),
            message,
        };
        if format == FileFormat::Json {
            match first_bad_json_line(&file) {
                Some(line) => return Some(failed(line)),
                None => continue,
            }
        }
        let schema = schema?;
        let Some(error) = read_error(&file, format, schema, None, state).await else {
            continue;
        };
        if format == FileFormat::Parquet {
            for (index, field) in schema.fields().iter().enumerate() {
                let column = read_error(&file, format, schema, Some(vec![index]), state).await;
                if let Some(error) = column {
                    let message = error.strip_backtrace();
                    return Some(failed(format!("column '{}': {message}", field.name())));
                }
            }
        }
        return Some(failed(error.strip_backtrace()));
    }
    None
}

/// The error reading the columns `projection` (all when `None`) of `file` gives, if any.
async fn read_error(
    file: &Path,
    format: FileFormat,
    schema: &SchemaRef,
    projection: Option<Vec<usize>>,
    state: &dyn Session,
) -> Option<DataFusionError> {
    let url = ListingTableUrl::parse(file.to_str()?).ok()?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(format.listing_options().with_file_extension(""))
        .with_schema(Arc::clone(schema));
    let table = ListingTable::try_new(config).ok()?;
    let read = async {
        let plan = table.scan(state, projection.as_ref(), &[], None).await?;
        let mut batches = execute_stream(plan, state.task_ctx())?;
        while let Some(batch) = batches.next().await {
            batch?;
        }
        Ok::<_, DataFusionError>(())
    };
    read.await.err()
}
