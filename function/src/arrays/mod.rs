//! Typed, read-only views of the Arrow arrays functions take: strings of any
//! of Arrow's three string layouts, and vectors stored as lists of `Float32`.

mod strings;
mod vectors;

pub use strings::{DenseStrings, StringColumn};
pub use vectors::{VectorColumn, coerce_vector_type};
