//! [`register_object_store`]: the object store of an input URL registered in a runtime
//! before the input is read ([`object_store_for`] says which stores there are).

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;

use super::object_store_for::object_store_for;
use crate::error::{Error, Result};

/// Registers in `runtime` the object store that serves `location`, unless it is a local
/// path or a store for it is registered already.
pub fn register_object_store(runtime: &RuntimeEnv, location: &str) -> Result<()> {
    let input_error = |message: String| Error::Input {
        path: location.to_string(),
        message,
    };
    let url = ListingTableUrl::parse(location).map_err(|e| input_error(e.to_string()))?;
    let store_url = url.object_store();
    let base: &url::Url = store_url.as_ref();
    if base.scheme() == "file" || runtime.object_store(&store_url).is_ok() {
        return Ok(());
    }
    let store = object_store_for(base).map_err(input_error)?;
    runtime.register_object_store(base, store);
    Ok(())
}
