//! `word_count(text)`: the number of whitespace-separated words, as `Int64`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::Int64Builder;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use nodefusion_function::arrays::StringColumn;

use super::ascii_space::is_ascii_space;
use nodefusion_function::{DOC_SECTION_TEXT, ScalarArguments, invoke_kernel};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_TEXT,
        "Counts the whitespace-separated words of a text.",
        "word_count(text)",
    )
    .with_sql_example("```sql\n> SELECT word_count('one two  three');\n+---+\n| 3 |\n+---+\n```")
    .with_argument("text", "The text: a string column or literal.")
    .build()
});

/// The `word_count` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WordCount {
    signature: Signature,
}

impl WordCount {
    /// The function, ready to wrap in a `ScalarUDF`.
    pub fn new() -> Self {
        Self {
            signature: Signature::string(1, Volatility::Immutable)
                .with_parameter_names(vec!["text"])
                .expect("one name for one parameter"),
        }
    }
}

impl Default for WordCount {
    fn default() -> Self {
        Self::new()
    }
}

/// The whitespace-separated words of `text` (Unicode whitespace, as `str::split_whitespace`).
#[inline]
fn count_words(text: &str) -> i64 {
    count_words_by_bytes(text.as_bytes()).unwrap_or_else(|| count_words_decoding_spaces(text))
}

/// The words of `text` counted byte by byte as [`count_words_by_bytes`] does, but with the
/// characters that may be non-ASCII whitespace decoded where they start, so that a
/// whitespace character's bytes count as space. Those first bytes never continue another
/// character, so every decoding starts on a character boundary.
fn count_words_decoding_spaces(text: &str) -> i64 {
    let bytes = text.as_bytes();
    let mut words = 0;
    let mut after_space = true;
    let mut position = 0;
    while let Some(&byte) = bytes.get(position) {
        let decoded = if may_begin_unicode_space(byte) {
            text.get(position..).and_then(|rest| rest.chars().next())
        } else {
            None
        };
        let (is_space, width) = match decoded {
            Some(c) => (c.is_whitespace(), c.len_utf8()),
            None => (is_ascii_space(byte), 1),
        };
        words += i64::from(after_space & !is_space);
        after_space = is_space;
        position += width;
    }
    words
}

/// Bytes a block's counters hold before they are added up (a count per byte fits in `u8`).
const BLOCK_BYTES: usize = 255;

/// The words of `text` counted over its bytes, a word starting wherever a byte that is not
/// ASCII whitespace follows one that is (or the start). `None` when `text` holds a byte
/// that may begin a non-ASCII whitespace character (U+0085, U+00A0, U+1680, U+2000 to
/// U+205F, U+3000 begin with 0xC2, 0xE1, 0xE2 or 0xE3): only decoding tells those apart.
/// Every other byte of a multi-byte character is part of a word, as its character is.
/// Written as branch-free loops over blocks that the compiler turns into SIMD.
#[inline]
fn count_words_by_bytes(text: &[u8]) -> Option<i64> {
    let Some(&first) = text.first() else {
        return Some(0);
    };
    let mut words = usize::from(!is_ascii_space(first));
    let mut may_be_unicode_space = may_begin_unicode_space(first);
    let mut previous = text;
    let mut current = &text[1..];
    while !current.is_empty() {
        let length = current.len().min(BLOCK_BYTES);
        let (block, rest) = current.split_at(length);
        let mut starts = 0u8;
        let mut suspicious = false;
        for (&before, &byte) in previous[..length].iter().zip(block) {
            starts += u8::from(is_ascii_space(before) & !is_ascii_space(byte));
            suspicious |= may_begin_unicode_space(byte);
        }
        words += usize::from(starts);
        may_be_unicode_space |= suspicious;
        previous = &previous[length..];
        current = rest;
    }
    (!may_be_unicode_space).then_some(words as i64)
}

/// Whether `byte` is the first byte of a non-ASCII whitespace character's UTF-8 form.
#[inline(always)]
fn may_begin_unicode_space(byte: u8) -> bool {
    (byte == 0xC2) | (byte.wrapping_sub(0xE1) < 3)
}

impl ScalarUDFImpl for WordCount {
    fn name(&self) -> &str {
        "word_count"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_kernel(
            self.name(),
            args,
            ScalarArguments::Broadcast,
            |arrays, rows| {
                let text = StringColumn::try_new(self.name(), &arrays[0])?;
                let mut builder = Int64Builder::with_capacity(rows);
                for row in 0..rows {
                    builder.append_option(text.get(row).map(count_words));
                }
                Ok(Arc::new(builder.finish()))
            },
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use datafusion::arrow::datatypes::Int64Type;

    use super::*;
    use nodefusion_function::testing::call_arrays;

    #[test]
    fn counts_words_separated_by_any_whitespace_and_keeps_nulls() {
        let input: ArrayRef = Arc::new(StringArray::from(vec![
            Some("one two  three"),
            Some(""),
            None,
            Some(" \tlead\u{3000}and trail\n"),
        ]));
        let output = call_arrays(&WordCount::new(), vec![input]).unwrap();
        let counts = output.as_primitive::<Int64Type>();
        assert_eq!(
            (counts.value(0), counts.value(1), counts.value(3)),
            (3, 0, 3)
        );
        assert!(counts.is_null(2));
    }

    #[test]
    fn the_byte_count_agrees_with_split_whitespace_on_every_whitespace_character() {
        let spaces: Vec<char> = (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        let mut texts = vec![String::new(), " ".repeat(600), "x".repeat(600)];
        for space in &spaces {
            texts.push(format!("one{space}two {space}{space}three{space}"));
            // Long enough to cross blocks, a word split exactly at a block's edge.
            texts.push(format!("{}{space}{}", "a".repeat(254), "b ".repeat(300)));
        }
        texts.push("café naïve Zürich 東京 😀 — “quoted”".to_string());
        texts.push("l’été\u{a0}ª µ ẞ ほ\u{2028}x".to_string());
        for text in &texts {
            let expected = text.split_whitespace().count() as i64;
            assert_eq!(count_words(text), expected, "{text:?}");
            assert_eq!(count_words_decoding_spaces(text), expected, "{text:?}");
        }
        assert_eq!(count_words_by_bytes("a\u{3000}b".as_bytes()), None);
        assert_eq!(count_words_by_bytes("café b".as_bytes()), Some(2));
    }

    proptest::proptest! {
        #[test]
        fn decoding_the_spaces_counts_as_split_whitespace(
            text in proptest::prop_oneof![
                "[a-z \u{a0}\u{3000}\u{2028}’ªµほ—\t]{0,80}",
                proptest::prelude::any::<String>(),
            ]
        ) {
            let expected = text.split_whitespace().count() as i64;
            proptest::prop_assert_eq!(count_words_decoding_spaces(&text), expected);
            proptest::prop_assert_eq!(count_words(&text), expected);
        }
    }
}
