//! [`WordPieces`]: the tokens a BERT WordPiece tokenizer gives an ASCII text, counted
//! straight from its bytes with no encoding built: the tokenizer's own normalization
//! (control characters dropped, whitespace folded, lowercase), pre-tokenization (words end at
//! whitespace, every punctuation character is a word) and greedy longest-match over its
//! vocabulary, one word at a time in a buffer on the stack.

use std::collections::HashSet;

use tokenizers::models::ModelWrapper;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{Model, Tokenizer};

/// The most characters a word may have before WordPiece calls it unknown that this counter
/// handles; a tokenizer allowing longer words is left to count by itself.
const MAX_WORD_BYTES: usize = 256;

/// How the tokenizer treats an ASCII byte before WordPiece sees it.
#[derive(Clone, Copy, PartialEq)]
enum ByteClass {
    /// A control character: dropped by the normalizer, joining what is around it.
    Control,
    /// Whitespace: ends a word.
    Space,
    /// Punctuation (ASCII's, symbols included): a word of its own.
    Punctuation,
    /// Part of a word.
    Word,
}

/// The class of ASCII `byte` under BERT's normalizer (`clean_text`) and pre-tokenizer.
fn class_of(byte: u8) -> ByteClass {
    match byte {
        b' ' | b'\t' | b'\n' | b'\r' => ByteClass::Space,
        0..=0x1F | 0x7F => ByteClass::Control,
        _ if byte.is_ascii_punctuation() => ByteClass::Punctuation,
        _ => ByteClass::Word,
    }
}

/// A WordPiece vocabulary ready to count the tokens of ASCII texts.
#[derive(Debug)]
pub struct WordPieces {
    /// The pieces a word may start with (the whole vocabulary).
    starts: HashSet<Box<[u8]>>,
    /// The pieces that continue a word, their prefix (`##`) taken off.
    continuations: HashSet<Box<[u8]>>,
    /// The length of the longest piece of either set.
    longest_piece: usize,
    /// Longer words are one unknown token.
    max_word_chars: usize,
    lowercase: bool,
    /// The bytes an added token (`[CLS]`, `[MASK]`...) may start with in a text: the
    /// tokenizer finds those before anything else, so a text holding one is left to it.
    added_token_starts: [bool; 128],
}

impl WordPieces {
    /// The counter for `tokenizer`, or `None` unless it is a BERT WordPiece tokenizer
    /// (BERT normalizer that cleans text, BERT pre-tokenizer, WordPiece model with its
    /// unknown token in the vocabulary).
    pub fn of(tokenizer: &Tokenizer) -> Option<Self> {
        let Some(NormalizerWrapper::BertNormalizer(normalizer)) = tokenizer.get_normalizer() else {
            return None;
        };
        let Some(PreTokenizerWrapper::BertPreTokenizer(_)) = tokenizer.get_pre_tokenizer() else {
            return None;
        };
        let ModelWrapper::WordPiece(model) = tokenizer.get_model() else {
            return None;
        };
        let vocabulary = model.get_vocab();
        if !normalizer.clean_text
            || model.max_input_chars_per_word > MAX_WORD_BYTES
            || !vocabulary.contains_key(&model.unk_token)
        {
            return None;
        }
        let prefix = model.continuing_subword_prefix.as_str();
        let continuations: HashSet<Box<[u8]>> = vocabulary
            .keys()
            .filter_map(|piece| piece.strip_prefix(prefix))
            .filter(|piece| !piece.is_empty())
            .map(|piece| piece.as_bytes().into())
            .collect();
        let starts: HashSet<Box<[u8]>> = vocabulary
            .keys()
            .map(|piece| piece.as_bytes().into())
            .collect();
        let longest_piece = starts.iter().chain(&continuations).map(|piece| piece.len());
        let mut added_token_starts = [false; 128];
        for token in tokenizer.get_added_tokens_decoder().values() {
            if let Some(&first) = token.content.as_bytes().first().filter(|b| b.is_ascii()) {
                added_token_starts[usize::from(first.to_ascii_lowercase())] = true;
                added_token_starts[usize::from(first.to_ascii_uppercase())] = true;
            }
        }
        Some(Self {
            longest_piece: longest_piece.max().unwrap_or(0),
            starts,
            continuations,
            max_word_chars: model.max_input_chars_per_word,
            lowercase: normalizer.lowercase,
            added_token_starts,
        })
    }

    /// The tokens of `text` (no special tokens), or `None` when the tokenizer has to count
    /// them itself: a text that is not all ASCII, or holds a byte an added token starts with.
    pub fn count(&self, text: &str) -> Option<usize> {
        let bytes = text.as_bytes();
        if !bytes.is_ascii()
            || bytes
                .iter()
                .any(|&byte| self.added_token_starts[usize::from(byte)])
        {
            return None;
        }
        let mut word = [0u8; MAX_WORD_BYTES];
        let mut length = 0;
        let mut tokens = 0;
        for &byte in bytes {
            match class_of(byte) {
                ByteClass::Control => {}
                ByteClass::Space => {
                    tokens += self.word_tokens(&word, length);
                    length = 0;
                }
                ByteClass::Punctuation => {
                    tokens += self.word_tokens(&word, length) + self.word_tokens(&[byte], 1);
                    length = 0;
                }
                ByteClass::Word => {
                    if let Some(slot) = word.get_mut(length) {
                        *slot = if self.lowercase {
                            byte.to_ascii_lowercase()
                        } else {
                            byte
                        };
                    }
                    length += 1;
                }
            }
        }
        Some(tokens + self.word_tokens(&word, length))
    }

    /// The tokens of a word of `length` characters whose first ones (all of them unless it
    /// is too long to look up) are in `word`: its pieces by greedy longest match, or one
    /// unknown token when it is too long or some part of it matches no piece.
    fn word_tokens(&self, word: &[u8], length: usize) -> usize {
        if length == 0 {
            return 0;
        }
        if length > self.max_word_chars {
            return 1;
        }
        let word = &word[..length];
        let mut start = 0;
        let mut tokens = 0;
        while start < length {
            let pieces = if start == 0 {
                &self.starts
            } else {
                &self.continuations
            };
            let mut end = length.min(start + self.longest_piece);
            while end > start && !pieces.contains(&word[start..end]) {
                end -= 1;
            }
            if end == start {
                return 1;
            }
            tokens += 1;
            start = end;
        }
        tokens
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::{DEFAULT_MODEL, resolve};

    /// The default model's tokenizer, the reference, without padding or truncation.
    static TOKENIZER: LazyLock<Tokenizer> = LazyLock::new(|| {
        let directory = resolve(DEFAULT_MODEL).expect("the default model is installed");
        let mut tokenizer = Tokenizer::from_file(directory.join("tokenizer.json")).unwrap();
        tokenizer.with_truncation(None).unwrap();
        tokenizer.with_padding(None);
        tokenizer
    });

    fn by_tokenizer(tokenizer: &Tokenizer, text: &str) -> usize {
        tokenizer.encode_fast(text, false).unwrap().len()
    }

    #[test]
    fn counts_as_the_tokenizer_on_known_texts() {
        let tokenizer = &*TOKENIZER;
        let pieces = WordPieces::of(tokenizer).expect("all-MiniLM-L6-v2 is BERT WordPiece");
        for text in [
            "Hello, world!",
            "",
            "unaffable",
            "The quick brown fox jumps over the lazy dog.",
            "tokenization of supercalifragilisticexpialidocious words",
            "a\u{1}b c\u{b}d\u{c}e\u{7f}f \t\r\n x",
            "##abc ## #a #",
            "$5+3=8 ^_^ ~tilde~ |pipe| `tick`",
            &"x".repeat(100),
            &"x".repeat(101),
            &format!("{} end", "ab".repeat(300)),
            "qzxjv wvqzx xqjz",
        ] {
            let expected = by_tokenizer(tokenizer, text);
            assert_eq!(pieces.count(text), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn leaves_non_ascii_texts_and_added_tokens_to_the_tokenizer() {
        let pieces = WordPieces::of(&TOKENIZER).unwrap();
        assert_eq!(pieces.count("café"), None);
        assert_eq!(pieces.count("a [CLS] b"), None);
        assert_eq!(pieces.count("a [cls] b"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn counts_as_the_tokenizer_on_any_ascii_text(
            text in proptest::prop_oneof![
                "[a-zA-Z0-9 .,;:!?'\"()#$%&*+/<=>@^_`{|}~\t\n\r-]{0,200}",
                "[\\x00-\\x7f]{0,120}",
                "([a-z]{1,14}[ ,.]{1,2}){0,20}",
                "[a-z]{95,105}( [a-z]{1,12}){0,3}",
                "[qxzjvwk]{1,12}( [qxzjvwk]{1,12}){0,8}",
            ]
        ) {
            let pieces = WordPieces::of(&TOKENIZER).unwrap();
            if let Some(count) = pieces.count(&text) {
                proptest::prop_assert_eq!(count, by_tokenizer(&TOKENIZER, &text), "{:?}", text);
            } else {
                proptest::prop_assert!(text.contains('['), "{:?}", text);
            }
        }
    }
}
