//! [`LocalStaging`]: a run's output written into a hidden staging directory beside its
//! local target and moved into place (a rename) when every row is written, so that a failed
//! or killed run leaves nothing at the target path. What killed runs leave beside the
//! target is cleared by the next run (`leftovers`).

use std::path::{Path, PathBuf};

use super::WriteMode;
use super::leftovers::{clear_leftovers, replaced_name, staging_name};
use crate::error::{Error, Result};

/// The name of a single-file target's file inside its staging directory.
const STAGED_FILE: &str = "data";

/// A run's staging directory. Dropping it without [`LocalStaging::commit`] removes it.
#[derive(Debug)]
pub struct LocalStaging {
    target: PathBuf,
    single_file: bool,
    mode: WriteMode,
    directory: PathBuf,
    cleared: Vec<String>,
}

impl LocalStaging {
    /// A staging directory beside `target` (one file, or a directory of files), committed
    /// as `mode` says; what killed runs left beside `target` is cleared first.
    pub fn create(target: &Path, single_file: bool, mode: WriteMode) -> Result<Self> {
        let parent = parent_directory(target);
        std::fs::create_dir_all(&parent).map_err(Error::io(&parent))?;
        let name = target.file_name().map_or_else(
            || "output".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let cleared = clear_leftovers(&parent, &name, target);
        let directory = parent.join(staging_name(&name));
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

    /// Moves the finished file `file` into the staging directory at `relative`.
    pub fn adopt(&self, file: &Path, relative: &str) -> Result<()> {
        let destination = self.directory.join(relative);
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        std::fs::rename(file, &destination).map_err(Error::io(&destination))
    }

    /// Moves what the run wrote to the target, as the mode says, and returns the files now
    /// at the target that this run wrote.
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        let target = self.target.clone();
        if self.mode == WriteMode::Error && target.exists() {
            // Another process wrote it while this run was going.
            return Err(Error::OutputExists {
                location: target.display().to_string(),
            });
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

impl Drop for LocalStaging {
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
