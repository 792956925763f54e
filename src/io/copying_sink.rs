//! [`CopyingSink`]: a Parquet sink for one local file that copies the columns of
//! [`CopiedColumns`] from the input file and encodes the others, in the input's row groups.
//!
//! The rows arrive in the input's order (a pipeline keeps it); the sink cuts them at the
//! input's row group boundaries, encodes each encoded column of a row group on a thread of
//! its own, then writes the row group: encoded columns from their encoders, copied ones
//! spliced from the input file. A run whose rows do not add up to the input's row groups
//! fails (and, written to staging, leaves nothing).

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

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
    ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use datafusion::parquet::column::writer::ColumnCloseResult;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::writer::SerializedFileWriter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::CopiedColumns;

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
    /// Writes the batches `receiver` gives, then the footer.
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
            BufWriter::new(File::create(&self.file)?),
            parquet_schema.root_schema_ptr(),
            Arc::new(self.properties.clone()),
        )?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, Arc::clone(&self.schema));
        let input = File::open(&self.copied.file)?;
        let groups = self.copied.metadata.row_groups();
        let group_rows = |group: usize| groups[group].num_rows() as usize;
        let mut group = 0;
        let mut encoders = column_encoders(factory.create_column_writers(0)?, &leaves_per_column);
        let mut left = group_rows(0);
        while let Some(batch) = receiver.blocking_recv() {
            let mut offset = 0;
            while offset < batch.num_rows() {
                if group == groups.len() {
                    return self.rows_differ();
                }
                let taken = left.min(batch.num_rows() - offset);
                self.encode(&mut encoders, &batch.slice(offset, taken))?;
                offset += taken;
                left -= taken;
                if left == 0 {
                    self.write_row_group(
                        &mut writer,
                        group,
                        std::mem::take(&mut encoders),
                        &input,
                    )?;
                    group += 1;
                    if group < groups.len() {
                        encoders = column_encoders(
                            factory.create_column_writers(group)?,
                            &leaves_per_column,
                        );
                        left = group_rows(group);
                    }
                }
            }
        }
        if group < groups.len() {
            return self.rows_differ();
        }
        writer.close()?;
        Ok(())
    }

    /// Writes row group `group`: each column from its `encoders`, or copied from `input`.
    fn write_row_group<W: Write + Send>(
        &self,
        writer: &mut SerializedFileWriter<W>,
        group: usize,
        encoders: Vec<Vec<ArrowColumnWriter>>,
        input: &File,
    ) -> Result<()> {
        let mut row_group = writer.next_row_group()?;
        for (column, encoder) in encoders.into_iter().enumerate() {
            match self.copied.sources[column] {
                Some(leaf) => row_group.append_column(input, self.stored_chunk(group, leaf))?,
                None => {
                    for leaf in encoder {
                        leaf.close()?.append_to_row_group(&mut row_group)?;
                    }
                }
            }
        }
        row_group.close()?;
        Ok(())
    }

    /// Encodes `batch` into the encoders of the columns not copied, a thread per column.
    fn encode(&self, encoders: &mut [Vec<ArrowColumnWriter>], batch: &RecordBatch) -> Result<()> {
        std::thread::scope(|scope| {
            let running: Vec<_> = encoders
                .iter_mut()
                .zip(self.schema.fields().iter())
                .zip(batch.columns())
                .zip(&self.copied.sources)
                .filter(|(_, source)| source.is_none())
                .map(|(((encoder, field), column), _)| {
                    scope.spawn(move || encode_column(encoder, field, column))
                })
                .collect();
            running
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|_| exec_err!("a Parquet column encoder panicked"))
                })
                .collect::<Result<Vec<()>>>()
        })?;
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
