//! [`LazyObjectStores`]: an object store registry that builds the store of a URL it has not
//! seen ([`object_store_for`]), for the processes of a cluster, which read whatever URLs
//! the plans they are sent name.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use url::Url;

use super::object_store_for::object_store_for;

/// The stores registered or built so far; local files are always there.
#[derive(Debug, Default)]
pub struct LazyObjectStores {
    stores: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for LazyObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.stores.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        let mut base = url.clone();
        base.set_path("");
        base.set_query(None);
        base.set_fragment(None);
        let store = object_store_for(&base)
            .map_err(|message| DataFusionError::Configuration(format!("{url}: {message}")))?;
        self.stores.register_store(&base, Arc::clone(&store));
        Ok(store)
    }
}
