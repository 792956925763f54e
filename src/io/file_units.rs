//! [`file_units`]: the files of an input one by one, each with what identifies its content
//! (its path or URL, length and modification time): the units of a run over several files,
//! local or in an object store, that `--resume` can continue.

use std::path::Path;
use std::time::UNIX_EPOCH;

use datafusion::catalog::Session;
use futures::TryStreamExt;

use super::listing_url::listing_url;
use super::{Input, register_object_store};
use crate::error::{Error, Result};

/// One input file of a larger input.
#[derive(Debug, Clone)]
pub struct FileUnit {
    /// The file, as an input of its own.
    pub input: Input,
    /// Its path or URL, length and modification time, a line each.
    pub identity: String,
}

/// The files of `input` in the order they are read (none for record batches in memory),
/// listed through the stores of `state` when they are in an object store.
pub async fn file_units(input: &Input, state: &dyn Session) -> Result<Vec<FileUnit>> {
    let Some(format) = input.file_format() else {
        return Ok(Vec::new());
    };
    let location = input.location();
    let in_store = location
        .split_once("://")
        .is_some_and(|(scheme, _)| !scheme.eq_ignore_ascii_case("file"));
    if !in_store {
        return Ok(input
            .local_file_inputs()
            .into_iter()
            .map(|unit| {
                let metadata = Path::new(unit.location()).metadata().ok();
                let length = metadata.as_ref().map_or(0, std::fs::Metadata::len);
                let modified = metadata
                    .and_then(|metadata| metadata.modified().ok())
                    .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |time| time.as_nanos());
                let identity = format!("{}\n{length}\n{modified}", unit.location());
                FileUnit {
                    input: unit,
                    identity,
                }
            })
            .collect());
    }
    let listing_error = |message: String| Error::Input {
        path: location.to_string(),
        message,
    };
    register_object_store(state.runtime_env(), location)?;
    let url = listing_url(location).map_err(|error| listing_error(error.strip_backtrace()))?;
    let store_url = url.object_store();
    let store = state
        .runtime_env()
        .object_store(&store_url)
        .map_err(|error| listing_error(error.strip_backtrace()))?;
    let mut objects: Vec<_> = url
        .list_all_files(state, store.as_ref(), &format!(".{format}"))
        .await
        .map_err(|error| listing_error(error.strip_backtrace()))?
        .try_collect()
        .await
        .map_err(|error| listing_error(error.strip_backtrace()))?;
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    let store_url = store_url.as_str().trim_end_matches('/').to_string();
    Ok(objects
        .into_iter()
        .map(|object| {
            let file = format!("{store_url}/{}", object.location);
            let identity = format!(
                "{file}\n{}\n{}\n{}",
                object.size,
                object
                    .last_modified
                    .timestamp_nanos_opt()
                    .unwrap_or_default(),
                object.e_tag.unwrap_or_default()
            );
            FileUnit {
                input: Input::path(file).with_format(format),
                identity,
            }
        })
        .collect())
}
