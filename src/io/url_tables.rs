//! [`UrlTables`]: files named in SQL's `FROM` (`SELECT * FROM 'data/docs.parquet'`, a
//! directory, a glob, an object store URL such as `'s3://bucket/in/*.parquet'`) read as
//! tables. DataFusion's own factory does the reading where it can (it also finds Hive
//! partition columns); a URL with a glob, which it cannot list, is read as a pipeline's
//! input is; and a name of files it cannot read gets the error a pipeline's input gets
//! (which file, what is wrong with it), where DataFusion says only "table not found" or
//! what its reader said without the file ("Corrupt footer").

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, UrlTableFactory};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::execution::session_state::SessionState;
use datafusion_session::SessionStore;

use super::{FileFormat, Input};

/// The table factory of a session's file names and URLs.
#[derive(Debug)]
pub struct UrlTables {
    datafusion: DynamicListTableFactory,
}

impl UrlTables {
    /// A factory for the session that `session_store` is given later (see
    /// [`SessionStore::with_state`]).
    pub fn new(session_store: SessionStore) -> Self {
        Self {
            datafusion: DynamicListTableFactory::new(session_store),
        }
    }

    /// The store through which the factory reaches its session.
    pub fn session_store(&self) -> &SessionStore {
        self.datafusion.session_store()
    }

    /// The session's current state, if it is still there.
    fn state(&self) -> Option<SessionState> {
        let session = self.session_store().get_session().upgrade()?;
        session
            .read()
            .as_any()
            .downcast_ref::<SessionState>()
            .cloned()
    }
}

#[async_trait]
impl UrlTableFactory for UrlTables {
    async fn try_new(&self, url: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let is_pattern_url = url.contains("://") && url.contains(['*', '?', '[']);
        let read = match is_pattern_url {
            true => Ok(None),
            false => self.datafusion.try_new(url).await,
        };
        match read {
            Ok(Some(table)) => return Ok(Some(table)),
            // Not files, or files that cannot be read: then said as for a pipeline's input.
            Ok(None) | Err(_) if names_files(url) => {}
            other => return other,
        }
        let Some(state) = self.state() else {
            return Ok(None);
        };
        let table = Input::path(url)
            .table(&state as &dyn Session)
            .await
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
        Ok(Some(table))
    }
}

/// Whether a table name is meant as files: a URL, a glob, a directory (trailing slash), or
/// a name with a file format's extension. (A bare name is a table's, even where a directory
/// of that name happens to be: DataFusion's factory has read it if it could.)
fn names_files(name: &str) -> bool {
    name.contains("://")
        || name.contains(['*', '?', '['])
        || name.ends_with('/')
        || FileFormat::from_extension(name).is_some()
}
