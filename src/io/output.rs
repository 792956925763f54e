//! [`Output`]: where a pipeline writes Parquet, and how it commits. A run writes into a
//! hidden staging location beside the target ([`Staging`]) and puts the result in place
//! only when every row is written, so that a failed or killed run leaves nothing at the
//! target. The target is a local path or an object store URL (`s3://bucket/out/`).
//!
//! A target ending in `.parquet` (without `partition_by`) is one file; any other target is
//! a directory of Parquet files, Hive-partitioned (`column=value/`) by `partition_by`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use serde::Deserialize;

use super::Staging;
use super::location::Location;
use crate::error::{Error, Result};

/// What to do when the target exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Refuse to run.
    #[default]
    Error,
    /// Replace it.
    Overwrite,
    /// Add new files to the target directory.
    Append,
}

/// Rows per row group unless set: the writer holds a row group until it is complete, so
/// this bounds a run's memory (DataFusion's own 1,048,576 rows of ~1 KB texts took a run
/// from 0.3 GB at 100k rows to 1.2 GB at 1M; with 65,536 it stays near 0.45 GB at 3M, see
/// BENCHMARKS.md).
pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;

/// The codec outputs get unless told otherwise: measured on the text job
/// (`benches/codecs/run.sh`, BENCHMARKS.md), zstd at level 3 takes no more time than level 1
/// (columns are encoded in parallel) for 8 % fewer bytes; snappy saves a quarter of the time
/// for 49 % more bytes.
pub const DEFAULT_COMPRESSION: &str = "zstd(3)";

/// A Parquet output.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    path: PathBuf,
    mode: WriteMode,
    compression: String,
    row_group_size: usize,
    partition_by: Vec<String>,
}

impl Output {
    /// Parquet at `path` (a local path, or an object store URL such as
    /// `s3://bucket/out/`), [`DEFAULT_COMPRESSION`], row groups of
    /// [`DEFAULT_ROW_GROUP_ROWS`], refusing an existing target.
    pub fn parquet(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            mode: WriteMode::Error,
            compression: DEFAULT_COMPRESSION.to_string(),
            row_group_size: DEFAULT_ROW_GROUP_ROWS,
            partition_by: Vec::new(),
        }
    }

    /// What to do when the target exists.
    pub fn write_mode(&self) -> WriteMode {
        self.mode
    }

    /// Sets what to do when the target exists.
    pub fn mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// The Parquet codec: `zstd(level)`, `snappy`, `gzip(level)`, `lz4`, `uncompressed`...
    pub fn compression(mut self, compression: impl Into<String>) -> Self {
        self.compression = compression.into();
        self
    }

    /// The most rows per row group (default [`DEFAULT_ROW_GROUP_ROWS`]).
    pub fn row_group_size(mut self, rows: usize) -> Self {
        self.row_group_size = rows;
        self
    }

    /// Writes one directory per value of these columns (`column=value/`).
    pub fn partition_by<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.partition_by = columns.into_iter().map(Into::into).collect();
        self
    }

    /// This output, written to `path` instead.
    pub(crate) fn relocated(&self, path: PathBuf) -> Self {
        Self {
            path,
            ..self.clone()
        }
    }

    /// The target as given: a local path or an object store URL.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the target is: on this machine or in an object store.
    pub fn location(&self) -> Result<Location> {
        Location::parse(&self.path)
    }

    /// The Parquet codec.
    pub fn compression_name(&self) -> &str {
        &self.compression
    }

    /// The most rows per row group.
    pub fn row_group_rows(&self) -> usize {
        self.row_group_size
    }

    /// The partitioning columns.
    pub fn partition_columns(&self) -> &[String] {
        &self.partition_by
    }

    /// Whether the target is a single file rather than a directory.
    pub fn is_single_file(&self) -> bool {
        self.partition_by.is_empty()
            && self
                .path
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("parquet"))
    }

    /// Checks that the output is well formed and, for a local target, that its mode allows
    /// writing to the target as it is now (a target in an object store is checked when
    /// its staging is made: [`Self::stage`]).
    pub fn check_target(&self) -> Result<()> {
        let location = self.location()?;
        if self.path.as_os_str().is_empty() || location.file_name().is_none() {
            return Err(Error::Config {
                origin: "output.path".into(),
                message: format!(
                    "'{}' names no file or directory to write",
                    self.path.display()
                ),
            });
        }
        if self.row_group_size == 0 {
            return Err(Error::Config {
                origin: self.path.display().to_string(),
                message: "row_group_size must be at least 1".into(),
            });
        }
        let local = location.local_path();
        let exists = local.is_some_and(Path::exists);
        match self.mode {
            WriteMode::Error if exists => Err(Error::OutputExists {
                location: self.path.display().to_string(),
            }),
            WriteMode::Append if self.is_single_file() => Err(Error::Config {
                origin: self.path.display().to_string(),
                message: "mode = \"append\" adds files to a directory; give a directory path \
                          (not ending in .parquet) or partition_by"
                    .into(),
            }),
            WriteMode::Append if exists && !local.is_some_and(Path::is_dir) => Err(Error::Config {
                origin: self.path.display().to_string(),
                message: "mode = \"append\" needs a directory, and this is a file".into(),
            }),
            _ => Ok(()),
        }
    }

    /// Checks the target and creates a staging location for a run; a target in an object
    /// store is reached through the stores of `runtime`.
    pub async fn stage(&self, runtime: &Arc<RuntimeEnv>) -> Result<Staging> {
        self.check_target()?;
        let runtime = Arc::clone(runtime);
        Staging::create(self.location()?, self.is_single_file(), self.mode, runtime).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_file_targets_end_in_parquet_without_partitioning() {
        assert!(Output::parquet("out/a.parquet").is_single_file());
        assert!(!Output::parquet("out/a").is_single_file());
        assert!(
            !Output::parquet("out/a.parquet")
                .partition_by(["c"])
                .is_single_file()
        );
    }

    #[test]
    fn error_mode_refuses_an_existing_target_and_append_needs_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("x.parquet");
        std::fs::write(&existing, b"old").unwrap();
        let error = Output::parquet(&existing).check_target().unwrap_err();
        assert!(matches!(error, Error::OutputExists { .. }));
        let error = Output::parquet(dir.path().join("y.parquet"))
            .mode(WriteMode::Append)
            .check_target()
            .unwrap_err();
        assert!(error.to_string().contains("append"), "{error}");
    }

    #[tokio::test]
    async fn an_uncommitted_staging_directory_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Output::parquet(dir.path().join("z.parquet"))
            .stage(&Arc::new(RuntimeEnv::default()))
            .await
            .unwrap();
        let location = PathBuf::from(staging.write_path());
        std::fs::write(&location, b"partial").unwrap();
        drop(staging);
        assert!(!location.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn overwrite_replaces_the_target_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.parquet");
        std::fs::write(&target, b"old").unwrap();
        let staging = Output::parquet(&target)
            .mode(WriteMode::Overwrite)
            .stage(&Arc::new(RuntimeEnv::default()))
            .await
            .unwrap();
        std::fs::write(staging.write_path(), b"new").unwrap();
        staging.commit().await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
