//! [`register_object_store`]: the object store of an input URL registered in a runtime
//! before the input is read ([`object_store_for`] says which stores there are), and
//! [`registered_store`], the store of a URL's bucket from a runtime, registered first if
//! it is not there yet.

use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectStore;

use super::listing_url::listing_url;
use super::object_store_for::object_store_for;
use crate::error::{Error, Result};

/// Registers in `runtime` the object store that serves `location`, unless it is a local
/// path or a store for it is registered already.
pub fn register_object_store(runtime: &RuntimeEnv, location: &str) -> Result<()> {
    let input_error = |message: String| Error::Input {
        path: location.to_string(),
        message,
    };
    let url = listing_url(location).map_err(|e| input_error(e.strip_backtrace()))?;
    let store_url = url.object_store();
    if store_url.as_str().starts_with("file://") {
        return Ok(());
    }
    registered_store(runtime, &store_url).map_err(input_error)?;
    Ok(())
}

/// The store of `store_url` (a scheme and a bucket) in `runtime`: the one registered, else
/// one built from the environment and registered.
pub fn registered_store(
    runtime: &RuntimeEnv,
    store_url: &ObjectStoreUrl,
) -> Result<Arc<dyn ObjectStore>, String> {
    if let Ok(store) = runtime.object_store(store_url) {
        return Ok(store);
    }
    let base: &url::Url = store_url.as_ref();
    let store = object_store_for(base)?;
    runtime.register_object_store(base, Arc::clone(&store));
    Ok(store)
}
