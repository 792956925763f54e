//! Object stores for input URLs: `s3://`, `gs://`, `az://` (also `abfs://`, `abfss://`)
//! and `http(s)://`, each configured from the environment the way its own tools are
//! (`AWS_*`, `GOOGLE_*`, `AZURE_*`).

use std::sync::Arc;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::{ClientOptions, ObjectStore};

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
    let host = base.host_str().unwrap_or_default().to_string();
    let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match base.scheme() {
        "s3" | "s3a" => AmazonS3Builder::from_env()
            .with_bucket_name(host)
            .build()
            .map(|store| Arc::new(store) as _),
        "gs" | "gcs" => GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(host)
            .build()
            .map(|store| Arc::new(store) as _),
        "az" | "azure" | "abfs" | "abfss" => MicrosoftAzureBuilder::from_env()
            .with_container_name(host)
            .build()
            .map(|store| Arc::new(store) as _),
        "http" | "https" => HttpBuilder::new()
            .with_url(base.as_str())
            .with_client_options(ClientOptions::new().with_allow_http(true))
            .build()
            .map(|store| Arc::new(store) as _),
        other => return Err(input_error(format!("unsupported URL scheme '{other}'"))),
    };
    let store = built.map_err(|e| input_error(e.to_string()))?;
    runtime.register_object_store(base, store);
    Ok(())
}
