//! A look at the local Parquet files of an input before DataFusion reads them: an empty,
//! truncated or foreign file is refused here, by name, instead of failing deep inside the
//! reader (a footer that claims more bytes than the file has makes the parquet crate
//! panic), and so is a file with two columns of one name (DataFusion would drop one) or a
//! column whose type differs from the same column's in an earlier file (named, with both);
//! a column some files lack is reported, so that it can read as NULL there.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::Schema;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;

use super::local_files;
use crate::error::{Error, Result};

/// The length of a Parquet file's tail: the footer's length (4 bytes) and `PAR1`.
const TAIL: u64 = 8;

/// Checks every Parquet file at `location`, a local file or directory (a glob or a URL is
/// left to the reader): each must end in a footer that fits inside it, hold metadata the
/// reader can read, name each of its columns once, and give each column the type the
/// earlier files give it. Returns the columns some of the files do not have (they read as
/// NULL there).
pub fn check_local_parquet(location: &str) -> Result<Vec<String>> {
    let files = local_files(location, "parquet");
    let mut seen: Vec<(PathBuf, Schema)> = Vec::new();
    for file in files {
        let failed = |message| Error::Input {
            path: file.display().to_string(),
            message,
        };
        let schema = check_file(&file).map_err(failed)?;
        for field in schema.fields() {
            let earlier = seen.iter().find_map(|(path, earlier)| {
                let column = earlier.field_with_name(field.name()).ok()?;
                (column.data_type() != field.data_type()).then_some((path, column))
            });
            if let Some((path, column)) = earlier {
                return Err(failed(format!(
                    "column '{}' is {} here but {} in {}; the files of one input must agree",
                    field.name(),
                    field.data_type(),
                    column.data_type(),
                    path.display()
                )));
            }
        }
        seen.push((file, schema));
    }
    let mut sometimes_missing: Vec<String> = seen
        .iter()
        .flat_map(|(_, schema)| schema.fields().iter().map(|field| field.name().clone()))
        .filter(|name| {
            seen.iter()
                .any(|(_, schema)| schema.field_with_name(name).is_err())
        })
        .collect();
    sometimes_missing.sort();
    sometimes_missing.dedup();
    Ok(sometimes_missing)
}

/// The schema of the Parquet file at `path`, or what is wrong with the file.
fn check_file(path: &Path) -> Result<Schema, String> {
    let mut file = File::open(path).map_err(|error| error.to_string())?;
    let size = file.metadata().map_err(|error| error.to_string())?.len();
    if size == 0 {
        return Err("an empty file (0 bytes), not Parquet".into());
    }
    if size < 4 + TAIL {
        return Err(format!("{size} bytes, too short to be a Parquet file"));
    }
    let mut tail = [0u8; TAIL as usize];
    file.seek(SeekFrom::End(-(TAIL as i64)))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|error| error.to_string())?;
    if &tail[4..] != b"PAR1" {
        return Err("not a Parquet file (it does not end in PAR1)".into());
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer + TAIL + 4 > size {
        return Err(format!(
            "truncated or corrupt: its footer claims {footer} bytes, the whole file has {size}"
        ));
    }
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|error| format!("corrupt metadata: {error}"))?;
    let file_metadata = metadata.file_metadata();
    let columns = file_metadata.schema_descr().root_schema().get_fields();
    for (index, column) in columns.iter().enumerate() {
        if columns[..index]
            .iter()
            .any(|earlier| earlier.name() == column.name())
        {
            return Err(format!(
                "two columns are named '{}'; rename one where the file is written",
                column.name()
            ));
        }
    }
    parquet_to_arrow_schema(
        file_metadata.schema_descr(),
        file_metadata.key_value_metadata(),
    )
    .map_err(|error| format!("corrupt schema: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_short_foreign_and_truncated_files_are_named_with_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("nodefusion-footer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut huge_footer = b"PAR1".to_vec();
        huge_footer.extend_from_slice(&[0; 8]);
        huge_footer.extend_from_slice(&1_000_000u32.to_le_bytes());
        huge_footer.extend_from_slice(b"PAR1");
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("empty.parquet", Vec::new(), "an empty file (0 bytes)"),
            ("short.parquet", b"PAR1".to_vec(), "4 bytes, too short"),
            (
                "csv.parquet",
                b"id,text\n1,hello\n".to_vec(),
                "does not end in PAR1",
            ),
            (
                "cut.parquet",
                huge_footer,
                "its footer claims 1000000 bytes, the whole file has 20",
            ),
        ];
        for (name, bytes, expected) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let error = check_local_parquet(dir.to_str().unwrap())
                .unwrap_err()
                .to_string();
            assert!(error.contains(name) && error.contains(expected), "{error}");
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
