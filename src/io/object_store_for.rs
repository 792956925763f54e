//! [`object_store_for`]: the object store serving a URL's scheme and host: `s3://`, `gs://`,
//! `az://` (also `abfs://`, `abfss://`) and `http(s)://`, each configured from the
//! environment the way its own tools are (`AWS_*`, `GOOGLE_*`, `AZURE_*`), with a bounded
//! number of retries so that an endpoint out of reach is an error within seconds, not a
//! wait of minutes.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

/// How often a failed request to a store is tried again (object_store's own default is 10
/// tries within 3 minutes).
pub const STORE_RETRIES: usize = 3;

/// The retries of every store: [`STORE_RETRIES`] within 15 seconds.
fn retries() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: STORE_RETRIES,
        retry_timeout: Duration::from_secs(15),
    }
}

/// A store for the bucket, container or server of `base` (a URL's scheme and host), or
/// why there is none.
pub fn object_store_for(base: &url::Url) -> Result<Arc<dyn ObjectStore>, String> {
    let host = base.host_str().unwrap_or_default().to_string();
    let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match base.scheme() {
        "s3" | "s3a" => AmazonS3Builder::from_env()
            .with_bucket_name(host)
            .with_retry(retries())
            .build()
            .map(|store| Arc::new(store) as _),
        "gs" | "gcs" => GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(host)
            .with_retry(retries())
            .build()
            .map(|store| Arc::new(store) as _),
        "az" | "azure" | "abfs" | "abfss" => MicrosoftAzureBuilder::from_env()
            .with_container_name(host)
            .with_retry(retries())
            .build()
            .map(|store| Arc::new(store) as _),
        "http" | "https" => HttpBuilder::new()
            .with_url(base.as_str())
            .with_retry(retries())
            .with_client_options(ClientOptions::new().with_allow_http(true))
            .build()
            .map(|store| Arc::new(store) as _),
        other => return Err(format!("unsupported URL scheme '{other}'")),
    };
    built.map_err(|error| error.to_string())
}
