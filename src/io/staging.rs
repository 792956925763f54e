//! [`Staging`]: where a run writes before its output is committed, beside a local target
//! ([`LocalStaging`]: a directory, moved into place by a rename) or beside a target in an
//! object store ([`StoreStaging`]: a prefix, copied into place under a journal).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;

use super::WriteMode;
use super::local_staging::LocalStaging;
use super::location::Location;
use super::object_stores::registered_store;
use super::store_staging::StoreStaging;
use crate::error::{Error, Result};

/// A run's staging location. Dropping it without [`Staging::commit`] removes it.
#[derive(Debug)]
pub enum Staging {
    /// Beside a local target.
    Local(LocalStaging),
    /// Beside a target in an object store.
    Store(StoreStaging),
}

impl Staging {
    /// A staging location beside `target` (one file, or a directory of files), committed
    /// as `mode` says; what killed runs left beside `target` is cleared first. A target in
    /// an object store is reached through the stores of `runtime` (built from the
    /// environment when it has none for the bucket), and checked against `mode` here.
    pub async fn create(
        target: Location,
        single_file: bool,
        mode: WriteMode,
        runtime: Arc<RuntimeEnv>,
    ) -> Result<Self> {
        match target {
            Location::Local(path) => {
                Ok(Self::Local(LocalStaging::create(&path, single_file, mode)?))
            }
            Location::Store(location) => {
                let store = registered_store(&runtime, &location.store).map_err(|message| {
                    Error::Store {
                        url: location.to_string(),
                        message,
                    }
                })?;
                let staging = StoreStaging::create(store, location, single_file, mode).await?;
                Ok(Self::Store(staging))
            }
        }
    }

    /// What interrupted runs had left beside the target, and what was done with it.
    pub fn cleared(&self) -> &[String] {
        match self {
            Self::Local(staging) => staging.cleared(),
            Self::Store(staging) => staging.cleared(),
        }
    }

    /// Where the run writes, as a sink takes it: a path or a URL, of a file for a
    /// single-file target, else of a directory (with a trailing slash).
    pub fn write_path(&self) -> String {
        match self {
            Self::Local(staging) => staging.write_path().to_string_lossy().into_owned(),
            Self::Store(staging) => staging.write_url(),
        }
    }

    /// Takes the finished local file `file` into the staging location at `relative` (a
    /// `/`-separated path): moved beside a local target, uploaded beside one in a store.
    pub async fn adopt_file(&self, file: &Path, relative: &str) -> Result<()> {
        match self {
            Self::Local(staging) => staging.adopt(file, relative),
            Self::Store(staging) => staging.upload(file, relative).await,
        }
    }

    /// Puts what the run wrote in place at the target, as the mode says, and returns the
    /// files now at the target that this run wrote.
    pub async fn commit(self) -> Result<Vec<Location>> {
        match self {
            Self::Local(staging) => Ok(staging
                .commit()?
                .into_iter()
                .map(|path: PathBuf| Location::Local(path))
                .collect()),
            Self::Store(staging) => staging.commit().await,
        }
    }
}
