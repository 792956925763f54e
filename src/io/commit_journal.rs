//! [`CommitJournal`]: the steps of a commit into an object store, written into the staging
//! prefix before the first of them runs, so that a run killed inside its commit leaves
//! enough for the next run to finish it. Every step can run twice: a copy whose source is
//! gone was done already (sources go only after every copy), a delete of what is gone is
//! done.

use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

/// The name of the journal inside a staging prefix.
pub const JOURNAL: &str = "_COMMIT";

/// Copies at once during a commit.
const COPIES_IN_FLIGHT: usize = 8;

/// What a commit does, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitJournal {
    /// Staged objects and the keys they are copied to.
    pub copies: Vec<(String, String)>,
    /// Keys the target held before that the new output does not (overwrite).
    pub deletes: Vec<String>,
    /// The marker written last, if any (`_SUCCESS` of a directory).
    pub marker: Option<String>,
}

impl CommitJournal {
    /// The journal as the bytes written into the staging prefix.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A journal read back, `None` when it is not one (cut short while written).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// Runs every step in `store`: the copies (several at once), then the deletes, then the
    /// marker.
    pub async fn apply(&self, store: &Arc<dyn ObjectStore>) -> object_store::Result<()> {
        let copies: Vec<(ObjectPath, ObjectPath)> = self
            .copies
            .iter()
            .map(|(from, to)| Ok((key(from)?, key(to)?)))
            .collect::<object_store::Result<_>>()?;
        let copied: Vec<object_store::Result<()>> = futures::stream::iter(copies)
            .map(|(from, to)| copy_once(Arc::clone(store), from, to))
            .buffer_unordered(COPIES_IN_FLIGHT)
            .collect()
            .await;
        copied
            .into_iter()
            .collect::<object_store::Result<Vec<()>>>()?;
        let deletes = self
            .deletes
            .iter()
            .map(|deleted| key(deleted))
            .collect::<object_store::Result<_>>()?;
        delete_keys(store, deletes).await?;
        if let Some(marker) = &self.marker {
            store.put(&key(marker)?, PutPayload::new()).await?;
        }
        Ok(())
    }
}

/// Copies `from` to `to` in `store`, unless `from` is gone (copied by an earlier try).
async fn copy_once(
    store: Arc<dyn ObjectStore>,
    from: ObjectPath,
    to: ObjectPath,
) -> object_store::Result<()> {
    match store.copy(&from, &to).await {
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        done => done,
    }
}

/// Removes `keys` from `store`; one already gone counts as removed.
pub async fn delete_keys(
    store: &Arc<dyn ObjectStore>,
    keys: Vec<ObjectPath>,
) -> object_store::Result<()> {
    let locations = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
    let deleted: Vec<object_store::Result<ObjectPath>> =
        store.delete_stream(locations).collect().await;
    for outcome in deleted {
        match outcome {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// A key as the journal holds it (already in the store's encoding).
fn key(text: &str) -> object_store::Result<ObjectPath> {
    Ok(ObjectPath::parse(text)?)
}
