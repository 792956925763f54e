//! [`Tokens`]: a model's tokenizer, for counting the tokens of texts as the model sees them.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::word_pieces::WordPieces;
use crate::{ModelError, Result};

/// A model's tokenizer without truncation or padding, and for a BERT WordPiece tokenizer
/// the counter that gives its counts of texts without encoding them.
#[derive(Debug)]
pub struct Tokens {
    tokenizer: Tokenizer,
    word_pieces: Option<WordPieces>,
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
        let word_pieces = WordPieces::of(&tokenizer);
        Ok(Self {
            tokenizer,
            word_pieces,
        })
    }

    /// The number of tokens of `text`, without special tokens.
    pub fn count(&self, text: &str) -> std::result::Result<usize, String> {
        if let Some(count) = self
            .word_pieces
            .as_ref()
            .and_then(|pieces| pieces.count(text))
        {
            return Ok(count);
        }
        self.tokenizer
            .encode_fast(text, false)
            .map(|encoding| encoding.len())
            .map_err(|error| error.to_string())
    }
}
