//! [`Location`]: where an output goes, a local path or an object in an object store
//! (`s3://bucket/key`, `gs://`, `az://`, ...), told apart by the URL scheme. A store's
//! location is never mistaken for a local path: `s3://bucket/out/` is not a directory named
//! `s3:`.

use std::fmt;
use std::path::{Path, PathBuf};

use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::path::Path as ObjectPath;

use crate::error::{Error, Result};

/// Where an output is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on this machine's file systems.
    Local(PathBuf),
    /// An object (or a prefix of objects) in an object store.
    Store(StoreLocation),
}

/// An object, or a prefix of objects, in an object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    /// The store: the URL's scheme and bucket (`s3://bucket`).
    pub store: ObjectStoreUrl,
    /// The object's key in the store, or the prefix of a directory's objects (no slash at
    /// either end).
    pub key: ObjectPath,
}

impl Location {
    /// The location `text` names: a URL with a scheme other than `file` is in an object
    /// store, anything else a local path.
    pub fn parse(text: &Path) -> Result<Self> {
        let Some((scheme, rest)) = text.to_str().and_then(|text| text.split_once("://")) else {
            return Ok(Self::Local(text.to_path_buf()));
        };
        if scheme.eq_ignore_ascii_case("file") {
            return Ok(Self::Local(PathBuf::from(rest)));
        }
        let text = text.to_string_lossy();
        let malformed = |message: String| Error::Config {
            origin: "output.path".into(),
            message: format!("'{text}': {message}"),
        };
        let url = url::Url::parse(&text).map_err(|error| malformed(error.to_string()))?;
        let bucket = url.host_str().unwrap_or_default();
        if bucket.is_empty() {
            return Err(malformed(format!(
                "names no bucket (write {scheme}://BUCKET/KEY)"
            )));
        }
        let store = ObjectStoreUrl::parse(format!("{}://{bucket}", url.scheme()))
            .map_err(|error| malformed(error.strip_backtrace()))?;
        let key =
            ObjectPath::from_url_path(url.path()).map_err(|error| malformed(error.to_string()))?;
        Ok(Self::Store(StoreLocation { store, key }))
    }

    /// The local path, for a location on this machine.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Self::Local(path) => Some(path),
            Self::Store(_) => None,
        }
    }

    /// The last part of the location's path (the file or directory name), if any.
    pub fn file_name(&self) -> Option<String> {
        match self {
            Self::Local(path) => path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned()),
            Self::Store(location) => location.key.filename().map(str::to_string),
        }
    }

    /// The extension of the location's last part, if any.
    pub fn extension(&self) -> Option<String> {
        let name = self.file_name()?;
        Path::new(&name)
            .extension()
            .map(|extension| extension.to_string_lossy().into_owned())
    }
}

impl StoreLocation {
    /// The location of `key` in the same store.
    pub fn with_key(&self, key: ObjectPath) -> Self {
        Self {
            store: self.store.clone(),
            key,
        }
    }

    /// The key's parent prefix (`None` at the bucket's root).
    pub fn parent(&self) -> Option<ObjectPath> {
        let parts: Vec<_> = self.key.parts().collect();
        match parts.len() {
            0 | 1 => None,
            n => Some(ObjectPath::from_iter(parts[..n - 1].iter().cloned())),
        }
    }

    /// The URL of a directory at this key, with its trailing slash (what a sink that writes
    /// several files is given).
    pub fn directory_url(&self) -> String {
        format!("{self}/")
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(path) => write!(f, "{}", path.display()),
            Self::Store(location) => location.fmt(f),
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.store.as_str().trim_end_matches('/');
        write!(f, "{store}/{}", self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_store_locations_and_the_rest_local_paths() {
        let Location::Store(store) = Location::parse(Path::new("s3://bucket/out/run/")).unwrap()
        else {
            panic!("an s3 URL is a store location");
        };
        assert_eq!(store.store.as_str(), "s3://bucket/");
        assert_eq!(store.key.as_ref(), "out/run");
        assert_eq!(store.to_string(), "s3://bucket/out/run");
        assert_eq!(store.parent().unwrap().as_ref(), "out");
        assert_eq!(
            Location::parse(Path::new("out/x.parquet")).unwrap(),
            Location::Local(PathBuf::from("out/x.parquet"))
        );
        assert_eq!(
            Location::parse(Path::new("file:///tmp/x.parquet")).unwrap(),
            Location::Local(PathBuf::from("/tmp/x.parquet"))
        );
        let error = Location::parse(Path::new("s3:///key")).unwrap_err();
        assert!(error.to_string().contains("names no bucket"), "{error}");
    }

    #[test]
    fn a_key_with_escaped_characters_is_decoded() {
        let Location::Store(store) = Location::parse(Path::new("gs://b/a%20b/c.parquet")).unwrap()
        else {
            panic!("a gs URL is a store location");
        };
        assert_eq!(store.key.as_ref(), "a b/c.parquet");
        assert_eq!(
            Location::Store(store).extension().as_deref(),
            Some("parquet")
        );
    }
}
