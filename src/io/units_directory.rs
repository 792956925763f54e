//! [`UnitsDirectory`]: where a run over several input files keeps the output of each file
//! it has finished (`part-00003.parquet`, or a directory for a partitioned output) until
//! every file is done: beside a local target as `.NAME.nodefusion-units`, on this machine
//! for a target in an object store (`units/` of the cache directory, under a hash of the
//! target's URL); then it puts them all in place in one commit. A run killed midway leaves
//! it there: `nodefusion run --resume` continues from it when the pipeline, the output and
//! the input files are the same (a fingerprint says so); a run without `--resume` removes
//! it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;

use super::leftovers::is_gone;
use super::local_staging::{list_files, parent_directory};
use super::location::Location;
use super::run_mark::run_mark;
use super::{Staging, WriteMode, cache_directory};
use crate::error::{Error, Result};

/// Files of the directory that are not outputs of input files.
const FINGERPRINT: &str = ".fingerprint";
const OWNER: &str = ".owner";

/// The finished outputs of a run's input files, kept beside its target.
#[derive(Debug)]
pub struct UnitsDirectory {
    path: PathBuf,
    target: Location,
    run: String,
}

impl UnitsDirectory {
    /// The directory of the run into `target` whose pipeline, output and input files
    /// `fingerprint` stands for: the one an interrupted run left when `resume` (it must be
    /// of the same fingerprint), else a new one. Also says, a line each, what it found.
    pub fn open(target: &Location, fingerprint: &str, resume: bool) -> Result<(Self, Vec<String>)> {
        let path = units_path(target)?;
        let mut notes = Vec::new();
        if path.is_dir() {
            let owner = std::fs::read_to_string(path.join(OWNER)).unwrap_or_default();
            let owner = owner.trim();
            if !owner.is_empty() && owner != std::process::id().to_string() && !is_gone(owner) {
                return Err(Error::Config {
                    origin: target.to_string(),
                    message: format!("another run (process {owner}) is writing it"),
                });
            }
            let kept = std::fs::read_to_string(path.join(FINGERPRINT)).unwrap_or_default();
            let finished = finished_units(&path).len();
            if resume && kept.lines().next() == Some(fingerprint) {
                notes.push(format!(
                    "resumed: kept the output of {finished} input file(s) an interrupted run had finished"
                ));
                std::fs::write(path.join(OWNER), std::process::id().to_string())
                    .map_err(Error::io(&path))?;
                let run = kept.lines().nth(1).unwrap_or("0").to_string();
                return Ok((
                    Self {
                        path,
                        target: target.clone(),
                        run,
                    },
                    notes,
                ));
            }
            if resume {
                return Err(Error::Config {
                    origin: "--resume".into(),
                    message: format!(
                        "the interrupted run into {} had another pipeline, output or input files \
                         (a file changed since); run without --resume to start again",
                        target
                    ),
                });
            }
            std::fs::remove_dir_all(&path).map_err(Error::io(&path))?;
            notes.push(format!(
                "removed the output of {finished} input file(s) an interrupted run had kept in \
                 {} (run --resume continues such a run)",
                path.display()
            ));
        } else if resume {
            notes.push(format!(
                "nothing to resume at {target}: every input file was run"
            ));
        }
        std::fs::create_dir_all(&path).map_err(Error::io(&path))?;
        let run = run_mark();
        std::fs::write(path.join(FINGERPRINT), format!("{fingerprint}\n{run}\n"))
            .map_err(Error::io(&path))?;
        std::fs::write(path.join(OWNER), std::process::id().to_string())
            .map_err(Error::io(&path))?;
        let directory = Self {
            path,
            target: target.clone(),
            run,
        };
        Ok((directory, notes))
    }

    /// Where the output of input file `index` goes: a file, or a directory when the output
    /// is partitioned. It exists once that file is done.
    pub fn unit_path(&self, index: usize, partitioned: bool) -> PathBuf {
        let name = format!("part-{index:05}");
        match partitioned {
            true => self.path.join(name),
            false => self.path.join(format!("{name}.parquet")),
        }
    }

    /// Puts every input file's output in place at the target as `mode` says, in one
    /// commit (through the stores of `runtime` for a target in an object store), and
    /// removes the directory; returns the files now at the target.
    pub async fn commit(self, mode: WriteMode, runtime: Arc<RuntimeEnv>) -> Result<Vec<Location>> {
        let staging = Staging::create(self.target.clone(), false, mode, runtime).await?;
        for unit in finished_units(&self.path) {
            let stem = unit
                .file_stem()
                .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
            if unit.is_file() {
                let name = format!("{stem}-{}.parquet", self.run);
                staging.adopt_file(&unit, &name).await?;
                continue;
            }
            for file in list_files(&unit)? {
                let relative = file.strip_prefix(&unit).unwrap_or(&file);
                let name = relative
                    .file_name()
                    .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
                let renamed = relative.with_file_name(format!("{stem}-{}-{name}", self.run));
                let renamed: Vec<_> = renamed
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy().into_owned())
                    .collect();
                staging.adopt_file(&file, &renamed.join("/")).await?;
            }
        }
        let files = staging.commit().await?;
        std::fs::remove_dir_all(&self.path).map_err(Error::io(&self.path))?;
        Ok(files)
    }
}

/// Where the finished outputs of a run into `target` are kept: beside a local target, in
/// the cache directory for one in an object store.
fn units_path(target: &Location) -> Result<PathBuf> {
    let name = target.file_name().unwrap_or_default();
    match target {
        Location::Local(path) => {
            Ok(parent_directory(path).join(format!(".{name}.nodefusion-units")))
        }
        Location::Store(_) => {
            let cache = cache_directory().ok_or_else(|| Error::Config {
                origin: target.to_string(),
                message: "no NODEFUSION_CACHE, XDG_CACHE_HOME or HOME to keep the finished \
                          input files of the run in"
                    .into(),
            })?;
            let hash = blake3::hash(target.to_string().as_bytes()).to_hex();
            Ok(cache.join("units").join(format!("{name}-{}", &hash[..16])))
        }
    }
}

/// The finished outputs in `directory`, in input order (hidden entries are its own files
/// and the staging of a file in progress).
fn finished_units(directory: &Path) -> Vec<PathBuf> {
    let mut units: Vec<PathBuf> = std::fs::read_dir(directory)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .collect();
    units.sort();
    units
}
