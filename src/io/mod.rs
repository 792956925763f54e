//! Where rows come from and where they go: [`Input`] (Parquet, CSV or JSON files, local or
//! in an object store, or record batches in memory) and [`Output`] (Parquet files written
//! through a staging location and committed at the end).

mod input;
mod leftovers;
mod object_stores;
mod output;
mod parquet_files;

pub use input::{FileFormat, Input};
pub use object_stores::register_object_store;
pub use output::{Output, Staging, WriteMode};
