//! Where rows come from and where they go: [`Input`] (Parquet, CSV or JSON files, local or
//! in an object store, or record batches in memory) and [`Output`] (Parquet files, local or
//! in an object store, written through a staging location and committed at the end).

mod cache_directory;
mod cleanup_now;
mod commit_journal;
mod copied_columns;
mod copying_sink;
mod file_units;
mod input;
mod json_lines;
mod large_block_reads;
mod lazy_object_stores;
mod leftovers;
mod listing_url;
mod local_files;
mod local_staging;
mod location;
mod object_store_for;
mod object_stores;
mod output;
mod parquet_files;
mod read_failure;
mod run_mark;
mod staging;
mod store_error;
mod store_leftovers;
mod store_staging;
mod units_directory;
mod url_tables;

pub use cache_directory::cache_directory;
pub use cleanup_now::cleanup_now;
pub use copied_columns::CopiedColumns;
pub use copying_sink::CopyingSink;
pub use file_units::{FileUnit, file_units};
pub use input::{FileFormat, Input};
pub use lazy_object_stores::LazyObjectStores;
use local_files::local_files;
pub use location::{Location, StoreLocation};
pub use object_stores::register_object_store;
pub use output::{DEFAULT_COMPRESSION, DEFAULT_ROW_GROUP_ROWS, Output, WriteMode};
pub use read_failure::is_read_error;
pub use run_mark::run_mark;
pub use staging::Staging;
pub use store_leftovers::{LEASE, LEASE_EXPIRY};
pub use units_directory::UnitsDirectory;
pub use url_tables::UrlTables;
