//! [`CopyingSink`]: a Parquet sink for one local file that copies the columns of
//! [`CopiedColumns`] from the input file and encodes the others, in the input's row groups.
//!
//! The rows arrive in the input's order (a pipeline keeps it); the sink cuts them at the
//! input's row group boundaries, encodes each encoded column of a row group on a thread of
//! its own (the next row group's while earlier ones are still being compressed, up to one
//! per core), then writes the row groups in order: encoded columns from their encoders,
//! copied ones spliced from the input file. A run whose rows do not add up to the input's row groups
//! fails (and, written to staging, leaves nothing).

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{FieldRef, SchemaRef};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::datasource::sink::DataSink;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::parquet::arrow::ArrowSchemaConverter;
use datafusion::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use datafusion::parquet::column::writer::ColumnCloseResult;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::writer::SerializedFileWriter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::CopiedColumns;
use super::large_block_reads::{IO_BLOCK_BYTES, LargeBlockReads};

/// Batches the reading side may hand ahead of the writer.
const CHANNEL_CAPACITY: usize = 2;

/// Writes one Parquet file, copying [`CopiedColumns`] from the input.
#[derive(Debug)]
pub struct CopyingSink {
    schema: SchemaRef,
    file: PathBuf,
    properties: WriterProperties,
    copied: CopiedColumns,
}

impl CopyingSink {
    /// A sink writing rows of `schema` (plain types) into `file` with `properties`,
    /// copying `copied`.
    pub fn new(
        schema: SchemaRef,
        file: PathBuf,
        properties: WriterProperties,
        copied: CopiedColumns,
    ) -> Self {
        Self {
            schema,
            file,
            properties,
            copied,
        }
    }
}

impl DisplayAs for CopyingSink {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let copied: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .zip(&self.copied.sources)
            .filter(|(_, source)| source.is_some())
            .map(|(field, _)| field.name().as_str())
            .collect();
        write!(
            f,
            "CopyingSink: file={}, copied from {}: {}",
            self.file.display(),
            self.copied.file.display(),
            copied.join(", ")
        )
    }
}

#[async_trait]
impl DataSink for CopyingSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let writer = FileWriter {
            schema: Arc::clone(&self.schema),
            file: self.file.clone(),
            properties: self.properties.clone(),
            copied: self.copied.clone(),
        };
        let writing = SpawnedTask::spawn_blocking(move || writer.write(receiver));
        let mut rows = 0;
        while let Some(batch) = data.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            if sender.send(batch).await.is_err() {
                // The writer stopped: its error says why.
                break;
            }
        }
        drop(sender);
        writing
            .join()
            .await
            .map_err(|error| DataFusionError::External(Box::new(error)))??;
        Ok(rows)
    }
}

/// The blocking side of [`CopyingSink`]: owns the file being written.
struct FileWriter {
    schema: SchemaRef,
    file: PathBuf,
    properties: WriterProperties,
    copied: CopiedColumns,
}

impl FileWriter {
    /// Writes the batches `receiver` gives, then the footer. Each row group's encoded
    /// columns are encoded on threads of their own while later row groups are already being
    /// fed: at most [`row_groups_in_flight`] at once, written in order as they finish.
    fn write(self, mut receiver: mpsc::Receiver<RecordBatch>) -> Result<()> {
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(self.properties.coerce_types())
            .convert(&self.schema)?;
        let leaves_per_column: Vec<usize> = self
            .schema
            .fields()
            .iter()
            .map(|field| {
                parquet_schema
                    .columns()
                    .iter()
                    .filter(|leaf| leaf.path().parts()[0] == *field.name())
                    .count()
            })
            .collect();
        let mut writer = SerializedFileWriter::new(
            BufWriter::with_capacity(IO_BLOCK_BYTES, File::create(&self.file)?),
            parquet_schema.root_schema_ptr(),
            Arc::new(self.properties.clone()),
        )?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, Arc::clone(&self.schema));
        let input = LargeBlockReads(File::open(&self.copied.file)?);
        let groups = self.copied.metadata.row_groups();
        let in_flight_limit = row_groups_in_flight();
        std::thread::scope(|scope| {
            let mut fed: VecDeque<RowGroupEncoding> = VecDeque::new();
            let mut feeding: Option<RowGroupEncoding> = None;
            let mut next_group = 0;
            while let Some(batch) = receiver.blocking_recv() {
                let mut offset = 0;
                while offset < batch.num_rows() {
                    let encoding = match &mut feeding {
                        Some(encoding) => encoding,
                        None => {
                            if next_group == groups.len() {
                                return self.rows_differ();
                            }
                            while fed.len() >= in_flight_limit
                                && let Some(oldest) = fed.pop_front()
                            {
                                self.write_row_group(&mut writer, oldest, &input)?;
                            }
                            let writers = column_encoders(
                                factory.create_column_writers(next_group)?,
                                &leaves_per_column,
                            );
                            let group = next_group;
                            next_group += 1;
                            let rows = groups[group].num_rows() as usize;
                            feeding.insert(self.start_row_group(scope, group, rows, writers))
                        }
                    };
                    let taken = encoding.rows_left.min(batch.num_rows() - offset);
                    encoding.feed(&batch.slice(offset, taken));
                    offset += taken;
                    if encoding.rows_left == 0 {
                        fed.extend(feeding.take());
                    }
                }
            }
            if feeding.is_some() || next_group < groups.len() {
                return self.rows_differ();
            }
            for encoding in fed {
                self.write_row_group(&mut writer, encoding, &input)?;
            }
            Ok(())
        })?;
        writer.close()?;
        Ok(())
    }

    /// Starts encoding row group `group` of `rows` rows: a thread per encoded column, fed
    /// by [`RowGroupEncoding::feed`].
    fn start_row_group<'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        group: usize,
        rows: usize,
        writers: Vec<Vec<ArrowColumnWriter>>,
    ) -> RowGroupEncoding<'scope> {
        let columns = writers
            .into_iter()
            .zip(self.schema.fields().iter())
            .zip(&self.copied.sources)
            .map(|((mut writers, field), source)| {
                if let Some(leaf) = *source {
                    return ColumnSource::Copied(leaf);
                }
                let (sender, columns) = std::sync::mpsc::channel::<ArrayRef>();
                let encoder = scope.spawn(move || {
                    for column in columns {
                        encode_column(&mut writers, field, &column)?;
                    }
                    writers
                        .into_iter()
                        .map(|writer| Ok(writer.close()?))
                        .collect()
                });
                ColumnSource::Encoded(ColumnEncoding { sender, encoder })
            })
            .collect();
        RowGroupEncoding {
            group,
            rows_left: rows,
            columns,
        }
    }

    /// Writes the row group `encoding` encodes (waiting for its encoders): each column
    /// from its encoder, or copied from `input`.
    fn write_row_group<W: Write + Send>(
        &self,
        writer: &mut SerializedFileWriter<W>,
        encoding: RowGroupEncoding,
        input: &LargeBlockReads,
    ) -> Result<()> {
        let mut row_group = writer.next_row_group()?;
        for column in encoding.columns {
            match column {
                ColumnSource::Copied(leaf) => {
                    row_group.append_column(input, self.stored_chunk(encoding.group, leaf))?;
                }
                ColumnSource::Encoded(encoded) => {
                    for chunk in encoded.finish()? {
                        chunk.append_to_row_group(&mut row_group)?;
                    }
                }
            }
        }
        row_group.close()?;
        Ok(())
    }

    /// What the input file's column chunk `leaf` of row group `group` is, as the writer
    /// takes a chunk to splice.
    fn stored_chunk(&self, group: usize, leaf: usize) -> ColumnCloseResult {
        let metadata = &self.copied.metadata;
        let chunk = metadata.row_group(group).column(leaf).clone();
        ColumnCloseResult {
            bytes_written: chunk.compressed_size() as u64,
            rows_written: metadata.row_group(group).num_rows() as u64,
            metadata: chunk,
            bloom_filter: None,
            column_index: metadata
                .column_index()
                .map(|index| index[group][leaf].clone()),
            offset_index: metadata
                .offset_index()
                .map(|index| index[group][leaf].clone()),
        }
    }

    /// The error of a run whose rows are not as many as the input file's.
    fn rows_differ(&self) -> Result<()> {
        exec_err!(
            "the run's rows are not the {} rows of {}: the columns copied from it would not \
             line up",
            self.copied.metadata.file_metadata().num_rows(),
            self.copied.file.display()
        )
    }
}

/// A row group being encoded: its rows still to come, and for each output column, its
/// encoder or the input's leaf column it is copied from.
struct RowGroupEncoding<'scope> {
    group: usize,
    rows_left: usize,
    columns: Vec<ColumnSource<'scope>>,
}

impl RowGroupEncoding<'_> {
    /// Hands the rows of `batch` (no more than are left) to the encoders.
    fn feed(&mut self, batch: &RecordBatch) {
        self.rows_left -= batch.num_rows();
        for (column, array) in self.columns.iter().zip(batch.columns()) {
            if let ColumnSource::Encoded(encoding) = column {
                // An encoder that stopped has failed: `finish` gives its error.
                let _ = encoding.sender.send(Arc::clone(array));
            }
        }
    }
}

/// Where a column of a row group comes from.
enum ColumnSource<'scope> {
    /// Copied from the input's leaf column.
    Copied(usize),
    /// Encoded on a thread of its own.
    Encoded(ColumnEncoding<'scope>),
}

/// One column of a row group, encoded on a thread that takes its arrays from a channel and
/// closes the column's writers when the channel does.
struct ColumnEncoding<'scope> {
    sender: std::sync::mpsc::Sender<ArrayRef>,
    encoder: ScopedJoinHandle<'scope, Result<Vec<ArrowColumnChunk>>>,
}

impl ColumnEncoding<'_> {
    /// The column's encoded chunks (one per leaf), once its encoder has them all.
    fn finish(self) -> Result<Vec<ArrowColumnChunk>> {
        drop(self.sender);
        self.encoder
            .join()
            .unwrap_or_else(|_| exec_err!("a Parquet column encoder panicked"))
    }
}

/// How many row groups are encoded at once: one per core, two to four (each holds its
/// encoded columns and the rows queued for them in memory).
fn row_groups_in_flight() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get().clamp(2, 4))
}

/// `writers` (one per leaf column) grouped by the output column they belong to.
fn column_encoders(
    writers: Vec<ArrowColumnWriter>,
    leaves_per_column: &[usize],
) -> Vec<Vec<ArrowColumnWriter>> {
    let mut writers = writers.into_iter();
    leaves_per_column
        .iter()
        .map(|&leaves| writers.by_ref().take(leaves).collect())
        .collect()
}

/// Encodes `column` (cast to `field`'s type where it is of a view type) into `encoder`.
fn encode_column(
    encoder: &mut [ArrowColumnWriter],
    field: &FieldRef,
    column: &ArrayRef,
) -> Result<()> {
    let column = match column.data_type() == field.data_type() {
        true => Arc::clone(column),
        false => cast(column, field.data_type())?,
    };
    for (writer, leaf) in encoder.iter_mut().zip(compute_leaves(field, &column)?) {
        writer.write(&leaf)?;
    }
    Ok(())
}
