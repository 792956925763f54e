//! [`StoreStaging`]: a run's output written aside in an object store and put in place when
//! every row is written. A store has no rename: the run writes under a hidden prefix beside
//! the target (`.NAME.nodefusion-staging-PID-RUN/`, each file by an upload that is complete
//! only when the file is), and the commit copies each file into place (a copy inside the
//! store), removes what the target held before (`overwrite`), writes a directory's
//! `_SUCCESS` marker last, and removes the staging prefix. A journal of those steps
//! (`_COMMIT`) goes first, so that the next run finishes a commit a killed run began; a
//! lease (`_LEASE`) tells a live run's staging from an abandoned one (see
//! `store_leftovers`). A reader of the target sees the previous output until the commit,
//! and during it no file that is not whole.

use std::path::Path;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use super::WriteMode;
use super::cleanup_now::cleanup_now;
use super::commit_journal::{CommitJournal, JOURNAL};
use super::leftovers::staging_name;
use super::location::{Location, StoreLocation};
use super::store_error::store_error;
use super::store_leftovers::{
    LEASE, LEASE_RENEWAL, clear_store_leftovers, delete_objects, lease_text,
};
use crate::error::{Error, Result};

/// The name of a single-file target's file inside its staging prefix.
const STAGED_FILE: &str = "data";

/// The marker a committed directory holds.
const SUCCESS: &str = "_SUCCESS";

/// A run's staging prefix in an object store. Dropping it without [`Self::commit`]
/// removes it.
#[derive(Debug)]
pub struct StoreStaging {
    store: Arc<dyn ObjectStore>,
    target: StoreLocation,
    single_file: bool,
    mode: WriteMode,
    prefix: ObjectPath,
    cleared: Vec<String>,
    renewal: JoinHandle<()>,
    /// Whether the staging prefix is no longer this value's to remove: committed, or the
    /// record of a commit cut short that the next run finishes.
    settled: bool,
}

impl StoreStaging {
    /// A staging prefix beside `target` in `store` (one file, or a directory of files),
    /// committed as `mode` says, after checking that the mode allows writing to the target
    /// as it is now; what interrupted runs left beside `target` is cleared first.
    pub async fn create(
        store: Arc<dyn ObjectStore>,
        target: StoreLocation,
        single_file: bool,
        mode: WriteMode,
    ) -> Result<Self> {
        if mode == WriteMode::Error && exists(&store, &target, single_file).await? {
            return Err(Error::OutputExists {
                location: target.to_string(),
            });
        }
        let name = target.key.filename().unwrap_or("output").to_string();
        let staging = staging_name(&name);
        let prefix = match target.parent() {
            Some(parent) => parent.join(staging.as_str()),
            None => ObjectPath::from(staging.as_str()),
        };
        let lease = prefix.clone().join(LEASE);
        let failed = |error: object_store::Error| store_error(target.to_string(), &error);
        store
            .put(&lease, PutPayload::from(lease_text()))
            .await
            .map_err(failed)?;
        let now = store.head(&lease).await.map_err(failed)?.last_modified;
        let cleared = clear_store_leftovers(&store, &target, &prefix, now).await;
        let renewal = tokio::spawn(renew_lease(Arc::clone(&store), lease));
        Ok(Self {
            store,
            target,
            single_file,
            mode,
            prefix,
            cleared,
            renewal,
            settled: false,
        })
    }

    /// What interrupted runs had left beside the target, and what was done with it.
    pub fn cleared(&self) -> &[String] {
        &self.cleared
    }

    /// Where the run writes: the URL of a file inside the staging prefix for a single-file
    /// target, else the URL of the prefix (with a trailing slash).
    pub fn write_url(&self) -> String {
        let staging = self.target.with_key(self.prefix.clone());
        match self.single_file {
            true => self
                .target
                .with_key(self.prefix.clone().join(STAGED_FILE))
                .to_string(),
            false => staging.directory_url(),
        }
    }

    /// Uploads the finished local file `file` into the staging prefix at `relative` (a
    /// `/`-separated path).
    pub async fn upload(&self, file: &Path, relative: &str) -> Result<()> {
        let key = relative
            .split('/')
            .fold(self.prefix.clone(), |key, part| key.join(part));
        let url = self.target.with_key(key.clone()).to_string();
        let mut source = tokio::fs::File::open(file).await.map_err(Error::io(file))?;
        let mut upload = BufWriter::new(Arc::clone(&self.store), key);
        if let Err(error) = tokio::io::copy(&mut source, &mut upload).await {
            let _ = upload.abort().await;
            return Err(Error::Store {
                url,
                message: error.to_string(),
            });
        }
        upload.shutdown().await.map_err(|error| Error::Store {
            url,
            message: error.to_string(),
        })
    }

    /// Puts what the run wrote in place at the target, as the mode says, and returns the
    /// files now at the target that this run wrote.
    pub async fn commit(mut self) -> Result<Vec<Location>> {
        let url = self.target.to_string();
        let failed = |error: object_store::Error| store_error(url.clone(), &error);
        let staged: Vec<_> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(failed)?;
        if self.mode == WriteMode::Error
            && exists(&self.store, &self.target, self.single_file).await?
        {
            // Another process wrote it while this run was going.
            return Err(Error::OutputExists { location: url });
        }
        let journal = self.journal(&staged).await.map_err(failed)?;
        if journal.copies.is_empty() && self.single_file {
            return Err(Error::Store {
                url: self.write_url(),
                message: "the run wrote no output file".into(),
            });
        }
        if !self.single_file {
            self.store
                .put(
                    &self.prefix.clone().join(JOURNAL),
                    PutPayload::from(journal.to_bytes()),
                )
                .await
                .map_err(failed)?;
            // From here the staging prefix records the commit: kept if it is cut short.
            self.settled = true;
        }
        journal
            .apply(&self.store)
            .await
            .map_err(|error| Error::Store {
                url: url.clone(),
                message: format!(
                    "{}; the commit was cut short, the next run to this target finishes it",
                    super::store_error::describe(&error)
                ),
            })?;
        self.settled = true;
        self.renewal.abort();
        let staged_now: Vec<_> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(failed)?;
        delete_objects(&self.store, staged_now)
            .await
            .map_err(failed)?;
        Ok(journal
            .copies
            .iter()
            .filter_map(|(_, to)| ObjectPath::parse(to).ok())
            .map(|to| Location::Store(self.target.with_key(to)))
            .collect())
    }

    /// The steps of the commit of `staged` (what the staging prefix holds).
    async fn journal(
        &self,
        staged: &[object_store::ObjectMeta],
    ) -> object_store::Result<CommitJournal> {
        let mut copies = Vec::new();
        for object in staged {
            let Some(relative) = object.location.prefix_match(&self.prefix) else {
                continue;
            };
            let relative: Vec<_> = relative.collect();
            // `_LEASE`, `_COMMIT` and the executors' `_parts/`: bookkeeping, not output.
            let bookkeeping = relative
                .first()
                .is_some_and(|part| part.as_ref().starts_with('_'));
            if bookkeeping {
                continue;
            }
            let to = match self.single_file {
                true => self.target.key.clone(),
                false => ObjectPath::from_iter(self.target.key.parts().chain(relative)),
            };
            copies.push((object.location.to_string(), to.to_string()));
        }
        copies.sort();
        if self.single_file {
            return Ok(CommitJournal {
                copies,
                deletes: Vec::new(),
                marker: None,
            });
        }
        let mut deletes = Vec::new();
        if self.mode == WriteMode::Overwrite {
            let before: Vec<_> = self
                .store
                .list(Some(&self.target.key))
                .try_collect()
                .await?;
            deletes = before
                .into_iter()
                .map(|object| object.location.to_string())
                .filter(|key| !copies.iter().any(|(_, to)| to == key))
                .collect();
        }
        Ok(CommitJournal {
            copies,
            deletes,
            marker: Some(self.target.key.clone().join(SUCCESS).to_string()),
        })
    }
}

impl Drop for StoreStaging {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.settled {
            return;
        }
        let store = Arc::clone(&self.store);
        let prefix = self.prefix.clone();
        cleanup_now(async move {
            if let Ok(objects) = store.list(Some(&prefix)).try_collect::<Vec<_>>().await {
                let _ = delete_objects(&store, objects).await;
            }
        });
    }
}

/// Whether the target holds anything: the object, or any object under the prefix.
async fn exists(
    store: &Arc<dyn ObjectStore>,
    target: &StoreLocation,
    single_file: bool,
) -> Result<bool> {
    let failed = |error: object_store::Error| store_error(target.to_string(), &error);
    if single_file {
        return match store.head(&target.key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(failed(error)),
        };
    }
    let first = store.list(Some(&target.key)).try_next().await;
    first.map(|found| found.is_some()).map_err(failed)
}

/// Rewrites the lease at `lease` every [`LEASE_RENEWAL`] while the run lives.
async fn renew_lease(store: Arc<dyn ObjectStore>, lease: ObjectPath) {
    loop {
        tokio::time::sleep(LEASE_RENEWAL).await;
        let _ = store.put(&lease, PutPayload::from(lease_text())).await;
    }
}
