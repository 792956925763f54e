//! [`Tokens`]: a model's tokenizer, for counting the tokens of texts as the model sees them.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::{ModelError, Result};

/// A model's tokenizer without truncation or padding.
#[derive(Debug)]
pub struct Tokens {
    tokenizer: Tokenizer,
}

impl Tokens {
    /// The tokenizer of the model in `directory` (its `tokenizer.json`).
    pub fn load(directory: &Path) -> Result<Self> {
        let file = directory.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&file).map_err(|error| ModelError::File {
            path: file.clone(),
            reason: format!("cannot load the tokenizer: {error}"),
        })?;
        let in_model = |error: tokenizers::Error| ModelError::Model {
            directory: directory.to_path_buf(),
            reason: error.to_string(),
        };
        tokenizer.with_truncation(None).map_err(in_model)?;
        tokenizer.with_padding(None);
        Ok(Self { tokenizer })
    }

    /// The number of tokens of `text`, without special tokens.
    pub fn count(&self, text: &str) -> std::result::Result<usize, String> {
        self.tokenizer
            .encode_fast(text, false)
            .map(|encoding| encoding.len())
            .map_err(|error| error.to_string())
    }
}
