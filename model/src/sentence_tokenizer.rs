//! [`SentenceTokenizer`]: a sentence-transformers model's tokenizer as its encoder uses it,
//! special tokens added and sequences cut at the model's window (`max_seq_length`), the
//! right end dropped, as sentence-transformers does. Cheap to clone, so that texts can be
//! tokenized apart from the encoder that computes them (`nodefusion serve` tokenizes in
//! its request handlers).

use std::path::{Path, PathBuf};

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::{ModelError, Result};

/// A model's tokenizer, truncating at the model's window.
#[derive(Debug, Clone)]
pub struct SentenceTokenizer {
    directory: PathBuf,
    tokenizer: Tokenizer,
    max_length: usize,
}

impl SentenceTokenizer {
    /// The tokenizer of the model in `directory` (its `tokenizer.json`), cutting sequences
    /// at `max_length` tokens, special tokens included.
    pub(crate) fn load(directory: &Path, max_length: usize) -> Result<Self> {
        let file = directory.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&file).map_err(|error| ModelError::File {
            path: file.clone(),
            reason: format!("cannot load the tokenizer: {error}"),
        })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                direction: TruncationDirection::Right,
                stride: 0,
            }))
            .map_err(|error| ModelError::Model {
                directory: directory.to_path_buf(),
                reason: error.to_string(),
            })?;
        tokenizer.with_padding(None);
        Ok(Self {
            directory: directory.to_path_buf(),
            tokenizer,
            max_length,
        })
    }

    /// The most tokens of a sequence, special tokens included: longer texts are cut.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The token ids of each text, special tokens included, truncated as the model is.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|error| ModelError::Model {
                directory: self.directory.clone(),
                reason: error.to_string(),
            })?;
        Ok(encodings
            .into_iter()
            .map(|encoding| encoding.get_ids().to_vec())
            .collect())
    }
}
