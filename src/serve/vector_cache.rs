//! The server's side of the result cache (`--cache`, kept in `NODEFUSION_CACHE`): a text's
//! vector is kept under the key the `embed` node gives `embed(text, 'MODEL')`, so the server
//! and pipelines that cache `embed` share their entries.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float32Type;
use datafusion::common::ScalarValue;
use nodefusion_function::FunctionMeta;
use nodefusion_udfs::embedding::{Embed, vector_array};

use crate::exec::{CacheKey, ResultCache};

/// The result cache, for the vectors of one model.
#[derive(Debug)]
pub struct VectorCache {
    cache: Arc<ResultCache>,
    model: String,
    function: String,
}

impl VectorCache {
    /// The process's result cache for the vectors of `model`; `None` when it cannot be
    /// opened (said once on stderr).
    pub fn open(model: &str) -> Option<Self> {
        Some(Self {
            cache: ResultCache::shared()?,
            model: model.to_string(),
            function: Embed::new().name().to_string(),
        })
    }

    fn key(&self, text: &str) -> CacheKey {
        let arguments = [
            ScalarValue::Utf8(Some(text.to_string())),
            ScalarValue::Utf8(Some(self.model.clone())),
        ];
        ResultCache::key(&self.function, "", &arguments)
    }

    /// The kept vector of each text (of `dimension` values), where there is one.
    pub fn lookup(&self, texts: &[&str], dimension: usize) -> Vec<Option<Vec<f32>>> {
        texts
            .iter()
            .map(|text| match self.cache.get(&self.key(text))? {
                ScalarValue::FixedSizeList(list) if list.len() == 1 && list.is_valid(0) => {
                    let values = list.value(0);
                    let values = values.as_primitive_opt::<Float32Type>()?.values();
                    (values.len() == dimension).then(|| values.to_vec())
                }
                _ => None,
            })
            .collect()
    }

    /// Keeps the vectors of `texts` (`vectors`, `dimension` values each, back to back).
    pub fn keep(&self, texts: &[&str], vectors: &[f32], dimension: usize) {
        let slots: Vec<Option<usize>> = (0..texts.len()).map(Some).collect();
        let Ok(array) = vector_array(dimension, &slots, vectors) else {
            return;
        };
        let entries: Vec<_> = texts
            .iter()
            .enumerate()
            .filter_map(|(row, text)| {
                let value = ScalarValue::try_from_array(&array, row).ok()?;
                Some((self.key(text), value))
            })
            .collect();
        self.cache.put_all(&entries);
    }
}
