//! [`WordPieces`]: the tokens a BERT WordPiece tokenizer gives a text, counted straight from
//! its characters with no encoding built: the tokenizer's own normalization (control
//! characters dropped, whitespace folded, CJK ideographs made words of their own, accents
//! stripped, lowercase), pre-tokenization (words end at whitespace, every punctuation
//! character is a word) and greedy longest-match over its vocabulary, one word at a time in
//! a buffer on the stack. ASCII characters are classed by a byte match; the others by the
//! same Unicode tables the tokenizer uses (`unicode_categories`, and
//! `unicode-normalization-alignments` for the canonical decomposition), so that both agree
//! on every character, new ones included.

use std::collections::HashSet;

use tokenizers::models::ModelWrapper;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{Model, Tokenizer};
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::char::{canonical_combining_class, decompose_canonical};

/// The most characters a word may have before WordPiece calls it unknown that this counter
/// handles; a tokenizer allowing longer words is left to count by itself.
const MAX_WORD_CHARS: usize = 256;

/// The bytes of the longest word looked up: a character is at most 4 bytes in UTF-8, so a
/// word that fills it has more than [`MAX_WORD_CHARS`] characters and is unknown anyway.
const WORD_BYTES: usize = 4 * MAX_WORD_CHARS;

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

/// Whether BERT's normalizer makes `c` a word of its own (the CJK ideograph blocks).
fn is_chinese_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// What the normalizer and pre-tokenizer make of a character, one step at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Event {
    /// The word being read ends (whitespace, or around a CJK ideograph).
    End,
    /// A punctuation character: a word of its own.
    Punctuation(char),
    /// A character that continues the word.
    Letter(char),
}

/// The event of the normalized character `c` under the pre-tokenizer: whitespace ends the
/// word, punctuation is a word of its own, anything else continues the word.
fn event_of(c: char) -> Event {
    if c.is_whitespace() {
        Event::End
    } else if c.is_ascii_punctuation() || c.is_punctuation() {
        Event::Punctuation(c)
    } else {
        Event::Letter(c)
    }
}

/// The characters below U+0800 (Latin, Greek, Cyrillic, Hebrew, Arabic...), whose events
/// are worked out once per tokenizer into a table.
const TABLED: usize = 0x800;

/// The events of one tabled character, `None` when it is left to the tokenizer.
type TabledEvents = Option<Box<[Event]>>;

/// A WordPiece vocabulary ready to count the tokens of texts.
#[derive(Debug)]
pub struct WordPieces {
    /// The pieces a word may start with (the whole vocabulary).
    starts: HashSet<Box<[u8]>>,
    /// The pieces that continue a word, their prefix (`##`) taken off.
    continuations: HashSet<Box<[u8]>>,
    /// The length of the longest piece of either set, in bytes.
    longest_piece: usize,
    /// Longer words are one unknown token.
    max_word_chars: usize,
    lowercase: bool,
    strip_accents: bool,
    handle_chinese_chars: bool,
    /// The ASCII bytes an added token (`[CLS]`, `[MASK]`...) may start with in a text: the
    /// tokenizer finds those before anything else, so a text holding one is left to it.
    added_token_starts: [bool; 128],
    /// Whether an added token starts with a character that is not ASCII (then every text
    /// that is not all ASCII is left to the tokenizer).
    added_token_beyond_ascii: bool,
    /// The events of each character below [`TABLED`], by [`WordPieces::normalize`].
    tabled: Box<[TabledEvents]>,
}

/// The word being read and the tokens counted so far.
struct Counting<'a> {
    pieces: &'a WordPieces,
    word: [u8; WORD_BYTES],
    /// The word's length in bytes (may exceed the buffer: then it is unknown anyway).
    bytes: usize,
    /// The word's length in characters.
    chars: usize,
    tokens: usize,
}

impl<'a> Counting<'a> {
    fn new(pieces: &'a WordPieces) -> Self {
        Self {
            pieces,
            word: [0; WORD_BYTES],
            bytes: 0,
            chars: 0,
            tokens: 0,
        }
    }

    /// Ends the word being read.
    fn end_word(&mut self) {
        if self.chars > 0 {
            let stored = self.bytes.min(WORD_BYTES);
            self.tokens += self.pieces.word_tokens(&self.word[..stored], self.chars);
        }
        self.bytes = 0;
        self.chars = 0;
    }

    /// Appends the normalized character `c` to the word.
    fn push(&mut self, c: char) {
        let end = self.bytes + c.len_utf8();
        if let Some(slot) = self.word.get_mut(self.bytes..end) {
            c.encode_utf8(slot);
        }
        self.bytes = end;
        self.chars += 1;
    }

    /// Applies one event to the word being read.
    fn apply(&mut self, event: Event) {
        match event {
            Event::End => self.end_word(),
            Event::Punctuation(c) => {
                self.end_word();
                self.push(c);
                self.end_word();
            }
            Event::Letter(c) => self.push(c),
        }
    }

    /// Reads the character `c` of the text, not ASCII: its events from the table, or from
    /// the normalizer's steps; `None` when it is left to the tokenizer.
    fn read(&mut self, c: char) -> Option<()> {
        let pieces = self.pieces;
        match pieces.tabled.get(c as usize) {
            Some(events) => {
                events
                    .as_deref()?
                    .iter()
                    .for_each(|&event| self.apply(event));
                Some(())
            }
            None => pieces.normalize(c, |event| self.apply(event)),
        }
    }
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
            || model.max_input_chars_per_word > MAX_WORD_CHARS
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
        let mut added_token_beyond_ascii = false;
        for token in tokenizer.get_added_tokens_decoder().values() {
            match token.content.as_bytes().first() {
                Some(&first) if first.is_ascii() => {
                    added_token_starts[usize::from(first.to_ascii_lowercase())] = true;
                    added_token_starts[usize::from(first.to_ascii_uppercase())] = true;
                }
                Some(_) => added_token_beyond_ascii = true,
                None => {}
            }
        }
        let mut pieces = Self {
            longest_piece: longest_piece.max().unwrap_or(0),
            starts,
            continuations,
            max_word_chars: model.max_input_chars_per_word,
            lowercase: normalizer.lowercase,
            strip_accents: normalizer.strip_accents.unwrap_or(normalizer.lowercase),
            handle_chinese_chars: normalizer.handle_chinese_chars,
            added_token_starts,
            added_token_beyond_ascii,
            tabled: Box::new([]),
        };
        pieces.tabled = (0..TABLED as u32)
            .map(|code| {
                let c = char::from_u32(code)?;
                let mut events = Vec::new();
                pieces.normalize(c, |event| events.push(event))?;
                Some(events.into_boxed_slice())
            })
            .collect();
        Some(pieces)
    }

    /// Calls `emit` with the events of the character `c`, not ASCII, through the
    /// normalizer (dropped if `Other`, whitespace, a CJK ideograph alone, decomposed without
    /// its non-spacing marks, lowercase) and the pre-tokenizer; `None` when its
    /// decomposition holds a combining character the normalizer would keep (canonical
    /// reordering might move it: left to the tokenizer).
    fn normalize(&self, c: char, mut emit: impl FnMut(Event)) -> Option<()> {
        if c == '\u{FFFD}' || c.is_other() {
            return Some(());
        }
        if c.is_whitespace() {
            emit(Event::End);
            return Some(());
        }
        let alone = self.handle_chinese_chars && is_chinese_char(c);
        if alone {
            emit(Event::End);
        }
        let mut kept = Some(());
        let mut normalized = |d: char| {
            if self.lowercase {
                d.to_lowercase().for_each(|l| emit(event_of(l)));
            } else {
                emit(event_of(d));
            }
        };
        if self.strip_accents {
            decompose_canonical(c, |d| {
                if d.is_mark_nonspacing() {
                    return;
                }
                if canonical_combining_class(d) != 0 {
                    kept = None;
                }
                normalized(d);
            });
        } else {
            normalized(c);
        }
        if alone {
            emit(Event::End);
        }
        kept
    }

    /// The tokens of `text` (no special tokens), or `None` when the tokenizer has to count
    /// them itself: a text holding a byte an added token starts with, or (rare) a combining
    /// character whose order the normalizer may change.
    pub fn count(&self, text: &str) -> Option<usize> {
        let bytes = text.as_bytes();
        let ascii = bytes.is_ascii();
        if bytes
            .iter()
            .any(|&byte| byte.is_ascii() && self.added_token_starts[usize::from(byte)])
            || (!ascii && self.added_token_beyond_ascii)
        {
            return None;
        }
        let mut counting = Counting::new(self);
        if ascii {
            for &byte in bytes {
                match class_of(byte) {
                    ByteClass::Control => {}
                    ByteClass::Space => counting.end_word(),
                    ByteClass::Punctuation => {
                        counting.end_word();
                        counting.push(char::from(byte));
                        counting.end_word();
                    }
                    ByteClass::Word => counting.push(char::from(match self.lowercase {
                        true => byte.to_ascii_lowercase(),
                        false => byte,
                    })),
                }
            }
        } else {
            for c in text.chars() {
                match u8::try_from(c) {
                    Ok(byte) if byte.is_ascii() => match class_of(byte) {
                        ByteClass::Control => {}
                        ByteClass::Space => counting.end_word(),
                        _ => counting.apply(event_of(match self.lowercase {
                            true => c.to_ascii_lowercase(),
                            false => c,
                        })),
                    },
                    _ => counting.read(c)?,
                }
            }
        }
        counting.end_word();
        Some(counting.tokens)
    }

    /// The tokens of a word of `chars` characters whose UTF-8 bytes (the first ones, when
    /// it is too long to look up) are `word`: its pieces by greedy longest match, or one
    /// unknown token when it is too long or some part of it matches no piece.
    fn word_tokens(&self, word: &[u8], chars: usize) -> usize {
        if chars > self.max_word_chars {
            return 1;
        }
        let boundary = |end: usize| end == word.len() || (word[end] & 0xC0) != 0x80;
        let mut start = 0;
        let mut tokens = 0;
        while start < word.len() {
            let pieces = if start == 0 {
                &self.starts
            } else {
                &self.continuations
            };
            let mut end = word.len().min(start + self.longest_piece);
            while end > start && !(boundary(end) && pieces.contains(&word[start..end])) {
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
    fn counts_as_the_tokenizer_on_known_texts_beyond_ascii() {
        let tokenizer = &*TOKENIZER;
        let pieces = WordPieces::of(tokenizer).unwrap();
        for text in [
            "café au lait, naïve façade",
            "Ünïcödé ÀÉÎÕÜ ß ẞ İstanbul ǅ",
            "“quoted” — dash – en ‘single’ … ¡hola! ¿qué?",
            "東京は日本の首都です。中文字符",
            "Ελληνικά κείμενα και Русский текст",
            "emoji 😀👍🏽 and ✓ ★ ♥",
            "zero\u{200b}width soft\u{ad}hyphen bom\u{feff}x",
            "nbsp\u{a0}here ideographic\u{3000}space line\u{2028}sep",
            "e\u{301}\u{302} a\u{308} combining marks",
            "ﬁ ligature ① circled ² super",
            "\u{fffd}replacement and private \u{e000} use",
            &"é".repeat(600),
            &format!("{} end", "😀x".repeat(300)),
            &"ǅ".repeat(100),
            &"İ".repeat(60),
        ] {
            let expected = by_tokenizer(tokenizer, text);
            assert_eq!(pieces.count(text), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn leaves_added_tokens_and_reordered_marks_to_the_tokenizer() {
        let pieces = WordPieces::of(&TOKENIZER).unwrap();
        assert_eq!(pieces.count("a [CLS] b"), None);
        assert_eq!(pieces.count("a [cls] b"), None);
        assert_eq!(pieces.count("ü [SEP]"), None);
        // A spacing combining mark with a combining class (musical stem, U+1D165).
        assert_eq!(pieces.count("x\u{1d165}\u{301}"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        #[test]
        fn counts_as_the_tokenizer_on_any_text(
            text in proptest::prop_oneof![
                "[a-zA-Z0-9 .,;:!?'\"()#$%&*+/<=>@^_`{|}~\t\n\r-]{0,200}",
                "[\\x00-\\x7f]{0,120}",
                "([a-z]{1,14}[ ,.]{1,2}){0,20}",
                "[a-z]{95,105}( [a-z]{1,12}){0,3}",
                "[qxzjvwk]{1,12}( [qxzjvwk]{1,12}){0,8}",
                "([a-zà-ÿÀ-ÖĀ-ž]{1,12}[ ,.’—]{1,2}){0,20}",
                "[a-zα-ωа-я一-龥ぁ-ゖ 、。！？“”‘’—…\u{300}-\u{36f}]{0,80}",
                "[\\x20-\\x7e\u{a0}-\u{24f}\u{2000}-\u{206f}\u{3000}-\u{303f}]{0,80}",
                "[\u{1f300}-\u{1faff}\u{2600}-\u{27bf}a-z ]{0,40}",
                ".{0,60}",
                "[a-zé]{95,105}( [a-z]{1,12}){0,3}",
            ]
        ) {
            let pieces = WordPieces::of(&TOKENIZER).unwrap();
            match pieces.count(&text) {
                Some(count) => {
                    proptest::prop_assert_eq!(count, by_tokenizer(&TOKENIZER, &text), "{:?}", text);
                }
                // Only a text holding `[`, or beyond ASCII (a combining mark that canonical
                // reordering might move), is left to the tokenizer.
                None => proptest::prop_assert!(text.contains('[') || !text.is_ascii(), "{:?}", text),
            }
        }
    }

    #[test]
    fn counts_nearly_every_generated_text_itself() {
        let pieces = WordPieces::of(&TOKENIZER).unwrap();
        let texts = [
            "Der Bär läuft über die Straße — schnell!",
            "Ça va? Très bien, merci… «oui»",
            "日本語のテキストと English words",
        ];
        assert!(texts.iter().all(|text| pieces.count(text).is_some()));
    }
}
