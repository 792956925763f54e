//! [`Output`]: where a pipeline writes Parquet, and how it commits. A run writes into a
//! hidden staging directory beside the target and moves the result into place only when
//! every row is written, so that a failed or killed run leaves nothing at the target path.
//!
//! A target ending in `.parquet` (without `partition_by`) is one file; any other target is
//! a directory of Parquet files, Hive-partitioned (`column=value/`) by `partition_by`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use super::leftovers::{clear_leftovers, replaced_name, staging_name};
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
    /// Parquet at `path`, [`DEFAULT_COMPRESSION`], row groups of [`DEFAULT_ROW_GROUP_ROWS`],
    /// refusing an existing target.
    pub fn parquet(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
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

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
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

    /// Checks that the output is well formed and that its mode allows writing to the target
    /// as it is now.
    pub fn check_target(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() || self.path.file_name().is_none() {
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
        let exists = self.path.exists();
        match self.mode {
            WriteMode::Error if exists => Err(Error::OutputExists {
                path: self.path.clone(),
            }),
            WriteMode::Append if self.is_single_file() => Err(Error::Config {
                origin: self.path.display().to_string(),
                message: "mode = \"append\" adds files to a directory; give a directory path \
                          (not ending in .parquet) or partition_by"
                    .into(),
            }),
            WriteMode::Append if exists && !self.path.is_dir() => Err(Error::Config {
                origin: self.path.display().to_string(),
                message: "mode = \"append\" needs a directory, and this is a file".into(),
            }),
            _ => Ok(()),
        }
    }

    /// Checks the target and creates a staging location for a run.
    pub fn stage(&self) -> Result<Staging> {
        self.check_target()?;
        Staging::create(&self.path, self.is_single_file(), self.mode)
    }
}

/// The name of a single-file target's file inside its staging directory.
const STAGED_FILE: &str = "data";

/// A run's staging location. Dropping it without [`Staging::commit`] removes it.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    single_file: bool,
    mode: WriteMode,
    directory: PathBuf,
    cleared: Vec<String>,
}

impl Staging {
    /// A staging directory beside `target` (one file, or a directory of files), committed
    /// as `mode` says; what killed runs left beside `target` is cleared first.
    pub fn create(target: &Path, single_file: bool, mode: WriteMode) -> Result<Self> {
        let parent = parent_directory(target);
        std::fs::create_dir_all(&parent).map_err(Error::io(&parent))?;
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let name = target.file_name().map_or_else(
            || "output".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let cleared = clear_leftovers(&parent, &name, target);
        let directory = parent.join(staging_name(&name, RUNS.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&directory).map_err(Error::io(&directory))?;
        let directory = directory.canonicalize().map_err(Error::io(&directory))?;
        Ok(Self {
            target: target.to_path_buf(),
            single_file,
            mode,
            directory,
            cleared,
        })
    }

    /// What interrupted runs had left beside the target, and what was done with it.
    pub fn cleared(&self) -> &[String] {
        &self.cleared
    }

    /// Where the run writes: a file inside the staging directory for a single-file
    /// target, else the staging directory itself (with a trailing slash).
    pub fn write_path(&self) -> PathBuf {
        if self.single_file {
            self.directory.join(STAGED_FILE)
        } else {
            let mut path = self.directory.clone().into_os_string();
            path.push("/");
            PathBuf::from(path)
        }
    }

    /// Moves what the run wrote to the target, as the mode says, and returns the files now
    /// at the target that this run wrote.
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        let target = self.target.clone();
        if self.mode == WriteMode::Error && target.exists() {
            // Another process wrote it while this run was going.
            return Err(Error::OutputExists { path: target });
        }
        let written = if self.single_file {
            let file = self.directory.join(STAGED_FILE);
            if !file.exists() {
                // No rows: DataFusion writes no file, but the target must still exist.
                return Err(Error::Io {
                    path: file,
                    source: std::io::Error::other("the run wrote no output file"),
                });
            }
            replace(&file, &target, self.mode)?;
            vec![target]
        } else if self.mode == WriteMode::Append {
            std::fs::create_dir_all(&target).map_err(Error::io(&target))?;
            move_tree(&self.directory, &self.directory, &target)?
        } else {
            let files = list_files(&self.directory)?
                .into_iter()
                .filter_map(|file| {
                    file.strip_prefix(&self.directory)
                        .ok()
                        .map(|r| target.join(r))
                })
                .collect();
            replace(&self.directory, &target, self.mode)?;
            files
        };
        Ok(written)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // After a commit only an emptied directory (or nothing) is left here.
        if self.directory.exists() {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }
}

/// The directory `target` is in (`.` for a bare name): where its staging goes.
pub(super) fn parent_directory(target: &Path) -> PathBuf {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Renames `from` to `target`; in overwrite mode an existing target is moved aside first
/// and removed after.
fn replace(from: &Path, target: &Path, mode: WriteMode) -> Result<()> {
    let aside = target.with_file_name(replaced_name(
        &target
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    ));
    let had_target = mode == WriteMode::Overwrite && target.exists();
    if had_target {
        std::fs::rename(target, &aside).map_err(Error::io(target))?;
    }
    if let Err(error) = std::fs::rename(from, target) {
        if had_target {
            let _ = std::fs::rename(&aside, target);
        }
        return Err(Error::io(target)(error));
    }
    if had_target {
        let removed = if aside.is_dir() {
            std::fs::remove_dir_all(&aside)
        } else {
            std::fs::remove_file(&aside)
        };
        removed.map_err(Error::io(&aside))?;
    }
    Ok(())
}

/// Moves every file under `directory` to the same relative place under `target`.
fn move_tree(root: &Path, directory: &Path, target: &Path) -> Result<Vec<PathBuf>> {
    let mut moved = Vec::new();
    for file in list_files(directory)? {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        let destination = target.join(relative);
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        std::fs::rename(&file, &destination).map_err(Error::io(&destination))?;
        moved.push(destination);
    }
    Ok(moved)
}

/// Every file under `directory`, recursively, sorted.
pub(super) fn list_files(directory: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).map_err(Error::io(&current))? {
            let path = entry.map_err(Error::io(&current))?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
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

    #[test]
    fn an_uncommitted_staging_directory_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Output::parquet(dir.path().join("z.parquet"))
            .stage()
            .unwrap();
        let location = staging.write_path();
        std::fs::write(&location, b"partial").unwrap();
        drop(staging);
        assert!(!location.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn overwrite_replaces_the_target_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.parquet");
        std::fs::write(&target, b"old").unwrap();
        let staging = Output::parquet(&target)
            .mode(WriteMode::Overwrite)
            .stage()
            .unwrap();
        std::fs::write(staging.write_path(), b"new").unwrap();
        staging.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
