//! What interrupted runs leave beside a target in an object store, found and cleared by the
//! next run to it. A store has no processes to ask, so each run's staging prefix holds a
//! lease (`_LEASE`: the host and process, rewritten by the running process every
//! [`LEASE_RENEWAL`]): a staging prefix is abandoned when its lease names a process of this
//! host that has ended, or when nothing in it was written for [`LEASE_EXPIRY`] (by the
//! store's own clock). An abandoned prefix with a commit journal is a commit cut short: it
//! is finished; one without is removed.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::commit_journal::{CommitJournal, JOURNAL, delete_keys};
use super::leftovers::{STAGING, is_gone};
use super::location::StoreLocation;

/// The name of the lease inside a staging prefix.
pub const LEASE: &str = "_LEASE";

/// How often a running process rewrites its lease.
pub const LEASE_RENEWAL: Duration = Duration::from_secs(15);

/// How long a staging prefix may go unwritten before it counts as abandoned.
pub const LEASE_EXPIRY: Duration = Duration::from_secs(120);

/// What a lease says: this host and this process.
pub fn lease_text() -> String {
    format!("{} {}", host_name(), std::process::id())
}

/// This machine's name (empty where the system does not say).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// Clears what interrupted runs left beside `target` (whose own staging is `own`, its lease
/// written at `now` by the store's clock) and says what it did, a line each.
pub async fn clear_store_leftovers(
    store: &Arc<dyn ObjectStore>,
    target: &StoreLocation,
    own: &ObjectPath,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let Some(name) = target.key.filename() else {
        return Vec::new();
    };
    let parent = target.parent();
    let Ok(listing) = store.list_with_delimiter(parent.as_ref()).await else {
        return Vec::new();
    };
    let prefix = format!(".{name}.{STAGING}");
    let mut done = Vec::new();
    for staging in listing.common_prefixes {
        let is_staging = staging
            .filename()
            .is_some_and(|found| found.starts_with(&prefix));
        if !is_staging || &staging == own {
            continue;
        }
        let url = target.with_key(staging.clone()).to_string();
        let Ok(objects) = store.list(Some(&staging)).try_collect::<Vec<_>>().await else {
            continue;
        };
        if !is_abandoned(store, &staging, &objects, now).await {
            continue;
        }
        let journal = match store.get(&staging.clone().join(JOURNAL)).await {
            Ok(found) => found
                .bytes()
                .await
                .ok()
                .and_then(|bytes| CommitJournal::from_bytes(&bytes)),
            Err(_) => None,
        };
        if let Some(journal) = journal {
            done.push(match journal.apply(store).await {
                Ok(()) => {
                    format!("finished the commit into {target} that an interrupted run had begun")
                }
                Err(error) => format!(
                    "could not finish the commit an interrupted run had begun in {url}: {}",
                    super::store_error::describe(&error)
                ),
            });
        }
        done.push(match delete_objects(store, objects).await {
            Ok(()) => format!("removed {url} left by an interrupted run"),
            Err(error) => format!(
                "could not clear {url}: {}",
                super::store_error::describe(&error)
            ),
        });
    }
    done
}

/// Whether the staging prefix `staging` holding `objects` belongs to no running process.
async fn is_abandoned(
    store: &Arc<dyn ObjectStore>,
    staging: &ObjectPath,
    objects: &[ObjectMeta],
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let lease = match store.get(&staging.clone().join(LEASE)).await {
        Ok(found) => found.bytes().await.ok(),
        Err(_) => None,
    };
    let lease = lease.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    if let Some((host, pid)) = lease.as_deref().and_then(|lease| lease.rsplit_once(' '))
        && host == host_name()
        && is_gone(pid)
    {
        return true;
    }
    let last_written = objects.iter().map(|object| object.last_modified).max();
    last_written.is_none_or(|written| {
        now.signed_duration_since(written)
            .to_std()
            .is_ok_and(|age| age > LEASE_EXPIRY)
    })
}

/// Removes `objects` from `store`, the commit journal last, so that a removal cut short
/// still leaves a commit that can be finished.
pub async fn delete_objects(
    store: &Arc<dyn ObjectStore>,
    objects: Vec<ObjectMeta>,
) -> object_store::Result<()> {
    let (journals, data): (Vec<_>, Vec<_>) = objects
        .into_iter()
        .map(|object| object.location)
        .partition(|location| location.filename() == Some(JOURNAL));
    delete_keys(store, data).await?;
    delete_keys(store, journals).await
}
