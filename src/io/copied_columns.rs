//! [`CopiedColumns`]: the columns a write takes from its input file as they are stored.
//!
//! A pipeline's nodes add columns and never drop, reorder or change rows, so a column passed
//! through from a Parquet input holds, in each of the input's row groups, exactly the values
//! of that row group's column chunk. Written as a local Parquet file in the input's row
//! groups, such a column is copied byte for byte (its compressed pages, statistics and page
//! index) instead of being decoded, encoded and compressed again: the same values, for the
//! cost of a copy. It applies where the copy is what the writer would have written anyway:
//!
//! - one local Parquet input file, one local output file (no `partition_by`);
//! - every input row group within the output's row group size;
//! - a column copied has the output column's Parquet type exactly (name, physical and
//!   logical type, nullability), the output's codec, and no bloom filter asked of it.
//!
//! Every other column is encoded as usual; where nothing can be copied the usual sink runs.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::parquet::arrow::ArrowSchemaConverter;
use datafusion::parquet::basic::CompressionCodec;
use datafusion::parquet::file::metadata::{
    PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader,
};
use datafusion::parquet::file::properties::WriterProperties;

use super::{FileFormat, Input, Location, Output};

/// An input file and which output columns are copied from it.
#[derive(Debug, Clone)]
pub struct CopiedColumns {
    /// The input file.
    pub file: PathBuf,
    /// Its metadata, with its page index where it has one.
    pub metadata: Arc<ParquetMetaData>,
    /// For each output column, the input's leaf column it is copied from (`None`: encoded).
    pub sources: Vec<Option<usize>>,
}

impl CopiedColumns {
    /// The columns of `schema` (the output's, in plain types) that a write of `input` into
    /// `output` with `properties` can copy (see the module's doc); `None` where none can.
    pub fn find(
        input: &Input,
        output: &Output,
        schema: &Schema,
        properties: &WriterProperties,
    ) -> Option<Self> {
        let [file] = input.local_file_inputs().try_into().ok()?;
        if file.file_format() != Some(FileFormat::Parquet)
            || !output.is_single_file()
            || !matches!(output.location(), Ok(Location::Local(_)))
        {
            return None;
        }
        let file = PathBuf::from(file.location());
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .parse_and_finish(&File::open(&file).ok()?)
            .ok()?;
        let row_groups = metadata.row_groups();
        if row_groups.is_empty()
            || row_groups
                .iter()
                .any(|group| group.num_rows() as usize > output.row_group_rows())
        {
            return None;
        }
        let written = ArrowSchemaConverter::new()
            .with_coerce_types(properties.coerce_types())
            .convert(schema)
            .ok()?;
        let stored = metadata.file_metadata().schema_descr();
        let sources: Vec<Option<usize>> = schema
            .fields()
            .iter()
            .map(|field| {
                let [target] = leaves_of(&written, field.name())[..] else {
                    return None;
                };
                let [source] = leaves_of(stored, field.name())[..] else {
                    return None;
                };
                let descriptor = written.column(target);
                let path = descriptor.path();
                let same = stored.column(source) == descriptor
                    && properties.bloom_filter_properties(path).is_none()
                    && row_groups.iter().all(|group| {
                        group.column(source).compression_codec()
                            == CompressionCodec::from(properties.compression(path))
                    });
                same.then_some(source)
            })
            .collect();
        sources.iter().any(Option::is_some).then(|| Self {
            file,
            metadata: Arc::new(metadata),
            sources,
        })
    }
}

/// The leaf columns of `schema` under its top-level field `name`.
fn leaves_of(
    schema: &datafusion::parquet::schema::types::SchemaDescriptor,
    name: &str,
) -> Vec<usize> {
    (0..schema.num_columns())
        .filter(|&leaf| schema.column(leaf).path().parts()[0] == name)
        .collect()
}
