//! [`ResultCache`]: results of node calls kept on disk, so that re-running a job after a
//! crash, or a job whose inputs overlap an earlier one, sends no request for what it
//! already has. A result is keyed by a BLAKE3 hash of the function's name, its scope (the
//! provider's URL) and every argument's type and value (an API key is never one of them);
//! the value is the result as a one-row Arrow IPC stream. The store is a `redb` database,
//! `results.redb` in `NODEFUSION_CACHE` (default `$XDG_CACHE_HOME/nodefusion`, else
//! `~/.cache/nodefusion`), opened once per process; when it cannot be opened (another
//! process holds it, no home directory), the run goes on without it and says so once.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::ScalarValue;
use redb::{Database, ReadableDatabase, TableDefinition};

use crate::io::cache_directory;

/// The table of results: key hash to IPC bytes.
const RESULTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("results");

/// The cache's key of one call.
pub type CacheKey = [u8; 32];

/// The result cache of the process.
#[derive(Debug)]
pub struct ResultCache {
    database: Database,
}

impl ResultCache {
    /// The process's cache, opened on first use; `None` when it cannot be (said once on
    /// stderr).
    pub fn shared() -> Option<Arc<ResultCache>> {
        static CACHE: OnceLock<Option<Arc<ResultCache>>> = OnceLock::new();
        CACHE
            .get_or_init(|| match Self::open() {
                Ok(cache) => Some(Arc::new(cache)),
                Err(reason) => {
                    eprintln!("nodefusion: running without the result cache: {reason}");
                    None
                }
            })
            .clone()
    }

    fn open() -> Result<Self, String> {
        let directory =
            cache_directory().ok_or("no NODEFUSION_CACHE, XDG_CACHE_HOME or HOME to keep it in")?;
        std::fs::create_dir_all(&directory)
            .map_err(|error| format!("{}: {error}", directory.display()))?;
        let path = directory.join("results.redb");
        let database =
            Database::create(&path).map_err(|error| format!("{}: {error}", path.display()))?;
        Ok(Self { database })
    }

    /// The key of a call of `function` in `scope` with `args`.
    pub fn key(function: &str, scope: &str, args: &[ScalarValue]) -> CacheKey {
        let mut hasher = blake3::Hasher::new();
        let mut part = |bytes: &[u8]| {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(function.as_bytes());
        part(scope.as_bytes());
        for arg in args {
            part(arg.data_type().to_string().as_bytes());
            match arg.try_as_str() {
                Some(Some(text)) => part(text.as_bytes()),
                _ => part(arg.to_string().as_bytes()),
            }
        }
        *hasher.finalize().as_bytes()
    }

    /// The result kept under `key`, if any (a damaged entry counts as none).
    pub fn get(&self, key: &CacheKey) -> Option<ScalarValue> {
        let transaction = self.database.begin_read().ok()?;
        let table = transaction.open_table(RESULTS).ok()?;
        let bytes = table.get(key).ok()??;
        let mut reader = StreamReader::try_new(bytes.value(), None).ok()?;
        let batch = reader.next()?.ok()?;
        ScalarValue::try_from_array(batch.column(0), 0).ok()
    }

    /// Keeps each value under its key, in one transaction; a failure to write only loses
    /// the entries (said on stderr).
    pub fn put_all(&self, entries: &[(CacheKey, ScalarValue)]) {
        if entries.is_empty() {
            return;
        }
        let write = || -> Result<(), redb::Error> {
            let transaction = self.database.begin_write()?;
            {
                let mut table = transaction.open_table(RESULTS)?;
                for (key, value) in entries {
                    if let Some(bytes) = encode(value) {
                        table.insert(key, bytes.as_slice())?;
                    }
                }
            }
            transaction.commit()?;
            Ok(())
        };
        if let Err(error) = write() {
            eprintln!("nodefusion: could not write to the result cache: {error}");
        }
    }
}

/// `value` as a one-row Arrow IPC stream.
fn encode(value: &ScalarValue) -> Option<Vec<u8>> {
    let array = value.to_array().ok()?;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "result",
        array.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![array]).ok()?;
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &schema).ok()?;
    writer.write(&batch).ok()?;
    writer.finish().ok()?;
    drop(writer);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_functions_scopes_types_and_values_apart() {
        let text = |value: &str| ScalarValue::Utf8(Some(value.to_string()));
        let base = ResultCache::key("llm", "http://a", &[text("a,b")]);
        assert_eq!(base, ResultCache::key("llm", "http://a", &[text("a,b")]));
        for other in [
            ResultCache::key("embed", "http://a", &[text("a,b")]),
            ResultCache::key("llm", "http://b", &[text("a,b")]),
            ResultCache::key("llm", "http://a", &[text("a"), text("b")]),
            ResultCache::key(
                "llm",
                "http://a",
                &[ScalarValue::LargeUtf8(Some("a,b".into()))],
            ),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn values_come_back_as_they_went_in() {
        let directory = tempfile::tempdir().unwrap();
        let cache = ResultCache {
            database: Database::create(directory.path().join("results.redb")).unwrap(),
        };
        let key = ResultCache::key("llm", "", &[]);
        assert_eq!(cache.get(&key), None);
        let value = ScalarValue::Utf8(Some("an answer".into()));
        cache.put_all(&[(key, value.clone())]);
        assert_eq!(cache.get(&key), Some(value));
    }
}
