//! `normalize_text(text)`: Unicode NFKC, lowercase, every punctuation character (general
//! category P*) replaced by a space, runs of whitespace collapsed to one space, trimmed.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, NullBufferBuilder, StringArray};
use datafusion::arrow::buffer::{Buffer, OffsetBuffer};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use nodefusion_function::arrays::StringColumn;
use nodefusion_function::{DOC_SECTION_TEXT, ScalarArguments, invoke_kernel};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_TEXT,
        "Normalizes text for matching: Unicode NFKC, lowercase, punctuation replaced by \
         spaces, whitespace collapsed and trimmed.",
        "normalize_text(text)",
    )
    .with_sql_example(
        "```sql\n> SELECT normalize_text('Ｈello,  WORLD!');\n+-------------+\n| hello world |\n+-------------+\n```",
    )
    .with_argument("text", "The text to normalize: a string column or literal.")
    .build()
});

/// The `normalize_text` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NormalizeText {
    signature: Signature,
}

impl NormalizeText {
    /// The function, ready to wrap in a `ScalarUDF`.
    pub fn new() -> Self {
        Self {
            signature: Signature::string(1, Volatility::Immutable)
                .with_parameter_names(vec!["text"])
                .expect("one name for one parameter"),
        }
    }
}

impl Default for NormalizeText {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes the normalized form of `text` into `out` (cleared first).
pub fn normalize(text: &str, out: &mut String) {
    let mut bytes = Vec::with_capacity(text.len());
    if text.is_ascii() {
        push_ascii_words(text.as_bytes(), &mut bytes);
    } else {
        push_unicode_words(text, &mut bytes);
    }
    out.clear();
    out.push_str(std::str::from_utf8(&bytes).expect("UTF-8 in, UTF-8 out"));
}

/// Appends the normalized form of `text`, which is not all ASCII, to `out`.
fn push_unicode_words(text: &str, out: &mut Vec<u8>) {
    // NFKC changes nothing in most text already in NFC form. An ASCII character never
    // changes and only ends a run of combining marks, so checking the others alone can
    // only answer "not sure" more often, never "yes" wrongly.
    let composed: Cow<str> = if is_nfkc_quick(non_ascii_chars(text)) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    };
    if composed.contains('Σ') {
        // `str::to_lowercase` knows the one rule that depends on context (a final sigma).
        let mut words = String::new();
        push_words(composed.to_lowercase().chars(), &mut words);
        out.extend_from_slice(words.as_bytes());
    } else {
        push_mixed_words(&composed, out);
    }
}

/// The characters of `text` that are not ASCII, found by skipping its ASCII runs a block
/// at a time rather than decoding every character.
fn non_ascii_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || {
        rest = &rest[ascii_run_length(rest.as_bytes())..];
        let c = rest.chars().next()?;
        rest = &rest[c.len_utf8()..];
        Some(c)
    })
}

/// The length of the run of ASCII bytes that `bytes` starts with: whole 32-byte blocks
/// checked at once (a test the compiler turns into SIMD), then byte by byte.
#[inline]
fn ascii_run_length(bytes: &[u8]) -> usize {
    const BLOCK: usize = 32;
    let blocks = bytes
        .chunks_exact(BLOCK)
        .take_while(|block| block.is_ascii())
        .count();
    let whole = blocks * BLOCK;
    whole
        + bytes[whole..]
            .iter()
            .take_while(|byte| byte.is_ascii())
            .count()
}

/// Appends the normalized form of `text` (in NFKC, without a capital sigma) to `out`: runs
/// of ASCII bytes through [`push_ascii_run`], other characters lowercased one by one.
fn push_mixed_words(text: &str, out: &mut Vec<u8>) {
    let start = out.len();
    let mut after_separator = true;
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = ascii_run_length(rest.as_bytes());
        push_ascii_run(&rest.as_bytes()[..ascii], out, &mut after_separator);
        rest = &rest[ascii..];
        if let Some(c) = rest.chars().next() {
            for lower in c.to_lowercase() {
                if is_separator(lower) {
                    if !after_separator {
                        out.push(b' ');
                    }
                    after_separator = true;
                } else {
                    let mut encoded = [0; 4];
                    out.extend_from_slice(lower.encode_utf8(&mut encoded).as_bytes());
                    after_separator = false;
                }
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    if after_separator && out.len() > start {
        out.pop();
    }
}

/// What [`ASCII_WORD_BYTES`] holds for a separator: a byte no ASCII byte maps to.
const SEPARATOR: u8 = 0x80;

/// Each ASCII byte's lowercase form, or [`SEPARATOR`] for whitespace and punctuation.
static ASCII_WORD_BYTES: [u8; 128] = {
    let mut table = [SEPARATOR; 128];
    let mut byte = 0;
    while byte < 128 {
        let c = byte as u8 as char;
        if !is_ascii_separator(c) {
            table[byte] = (byte as u8).to_ascii_lowercase();
        }
        byte += 1;
    }
    table
};

/// Appends the normalized form of ASCII `text` to `out`.
fn push_ascii_words(text: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut after_separator = true;
    push_ascii_run(text, out, &mut after_separator);
    if after_separator && out.len() > start {
        out.pop();
    }
}

/// Appends ASCII `text` to `out` as words: a branch-free pass that writes every byte's
/// lowercase form or a space, and moves on only past a byte that is not a second separator
/// in a row. `after_separator` says whether what came before ended in a separator (or is
/// nothing yet, so that none leads) and is left saying it of `text`'s end; a trailing
/// separator stays written as a space, for the caller to drop at the very end.
#[inline]
fn push_ascii_run(text: &[u8], out: &mut Vec<u8>, after_separator: &mut bool) {
    let start = out.len();
    out.resize(start + text.len(), 0);
    let buffer = &mut out[start..];
    let mut written = 0;
    let mut after = *after_separator;
    for &byte in text {
        let mapped = ASCII_WORD_BYTES[usize::from(byte & 0x7F)];
        let is_separator = mapped == SEPARATOR;
        buffer[written] = if is_separator { b' ' } else { mapped };
        written += usize::from(!(is_separator & after));
        after = is_separator;
    }
    *after_separator = after;
    out.truncate(start + written);
}

/// Whether `c` separates words: whitespace or punctuation (general category P*), decided
/// without tables for ASCII and by one bit for the other one- and two-byte characters
/// (Latin, Greek, Cyrillic, Hebrew, Arabic...).
#[inline]
fn is_separator(c: char) -> bool {
    let code = u32::from(c) as usize;
    if c.is_ascii() {
        is_ascii_separator(c)
    } else if code < TWO_BYTE_CHARACTERS {
        TWO_BYTE_SEPARATORS[code / 64] & (1 << (code % 64)) != 0
    } else {
        is_unicode_separator(c)
    }
}

/// The characters whose UTF-8 form has one or two bytes: U+0000 to U+07FF.
const TWO_BYTE_CHARACTERS: usize = 0x800;

/// [`is_unicode_separator`] of every character below [`TWO_BYTE_CHARACTERS`], a bit each.
static TWO_BYTE_SEPARATORS: LazyLock<[u64; TWO_BYTE_CHARACTERS / 64]> = LazyLock::new(|| {
    let mut bits = [0; TWO_BYTE_CHARACTERS / 64];
    for c in ('\0'..'\u{800}').filter(|&c| is_unicode_separator(c)) {
        let code = u32::from(c) as usize;
        bits[code / 64] |= 1 << (code % 64);
    }
    bits
});

/// [`is_separator`] by its definition: whitespace or general category P*.
fn is_unicode_separator(c: char) -> bool {
    c.is_whitespace() || c.general_category_group() == GeneralCategoryGroup::Punctuation
}

/// [`is_separator`] for an ASCII character.
const fn is_ascii_separator(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\u{b}' || (c.is_ascii_punctuation() && !is_ascii_symbol(c))
}

/// The ASCII characters `is_ascii_punctuation` accepts that Unicode files under symbols.
#[inline]
const fn is_ascii_symbol(c: char) -> bool {
    matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
}

/// Appends `chars` to `out`, punctuation and whitespace folded into single spaces between
/// words and none at either end.
fn push_words(chars: impl Iterator<Item = char>, out: &mut String) {
    let mut space_pending = false;
    for c in chars {
        if is_separator(c) {
            space_pending = !out.is_empty();
        } else {
            if space_pending {
                out.push(' ');
                space_pending = false;
            }
            out.push(c);
        }
    }
}

/// The normalized form of every row of `text`, written straight into one value buffer.
fn normalized_column(text: &StringColumn, rows: usize) -> Result<ArrayRef> {
    let mut values = Vec::with_capacity(text.value_bytes());
    let mut offsets = Vec::with_capacity(rows + 1);
    let mut nulls = NullBufferBuilder::new(rows);
    offsets.push(0i32);
    for row in 0..rows {
        match text.get(row) {
            Some(value) if value.is_ascii() => {
                nulls.append_non_null();
                push_ascii_words(value.as_bytes(), &mut values);
            }
            Some(value) => {
                nulls.append_non_null();
                push_unicode_words(value, &mut values);
            }
            None => nulls.append_null(),
        }
        let Ok(offset) = i32::try_from(values.len()) else {
            return exec_err!(
                "normalize_text: the normalized texts of one batch exceed 2 GiB; \
                 lower the node's batch_size"
            );
        };
        offsets.push(offset);
    }
    let array = StringArray::try_new(
        OffsetBuffer::new(offsets.into()),
        Buffer::from_vec(values),
        nulls.finish(),
    )?;
    Ok(Arc::new(array))
}

impl ScalarUDFImpl for NormalizeText {
    fn name(&self) -> &str {
        "normalize_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_kernel(
            self.name(),
            args,
            ScalarArguments::Broadcast,
            |arrays, rows| {
                let text = StringColumn::try_new(self.name(), &arrays[0])?;
                normalized_column(&text, rows)
            },
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray, StringViewArray};

    use super::*;
    use nodefusion_function::testing::call_arrays;

    fn normalized(text: &str) -> String {
        let mut out = String::new();
        normalize(text, &mut out);
        out
    }

    #[test]
    fn lowercases_and_folds_punctuation_and_whitespace() {
        assert_eq!(normalized("  Hello,   WORLD!! "), "hello world");
        assert_eq!(normalized("a-b_c"), "a b c");
        assert_eq!(normalized("tab\there\nnew"), "tab here new");
    }

    #[test]
    fn symbols_are_not_punctuation() {
        assert_eq!(normalized("1+1=2 $5"), "1+1=2 $5");
    }

    #[test]
    fn applies_nfkc_before_lowercasing() {
        assert_eq!(normalized("Ｈｅｌｌｏ"), "hello");
        assert_eq!(normalized("ﬁne"), "fine");
        assert_eq!(normalized("Ⅻ"), "xii");
    }

    #[test]
    fn unicode_punctuation_and_spaces() {
        assert_eq!(normalized("«Bonjour»\u{3000}l’ami…"), "bonjour l ami");
        assert_eq!(normalized("ΟΔΥΣΣΕΥΣ"), "οδυσσευς");
    }

    #[test]
    fn the_quick_separator_tests_agree_with_the_definition_for_every_character() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            assert_eq!(is_separator(c), is_unicode_separator(c), "{c:?}");
        }
    }

    #[test]
    fn the_ascii_byte_pass_agrees_with_the_character_pass_for_every_ascii_byte() {
        for byte in 0u8..128 {
            let c = byte as char;
            for text in [
                format!("{c}"),
                format!("{c}{c}Ab{c}cD {c}"),
                format!(" x{c}{c}y{c}"),
            ] {
                let mut by_characters = String::new();
                push_words(
                    text.chars().map(|c| c.to_ascii_lowercase()),
                    &mut by_characters,
                );
                let mut by_bytes = Vec::new();
                push_ascii_words(text.as_bytes(), &mut by_bytes);
                assert_eq!(by_bytes, by_characters.as_bytes(), "{text:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn every_fast_path_gives_the_plain_definition(
            text in proptest::prop_oneof![
                "[a-zA-Z0-9 .,;:!?'\\-\t\n]{0,60}",
                "\\PC{0,40}",
                "([a-zA-Z0-9 .,;!?'\\-]{0,70}\\PC{0,3}){0,6}",
                proptest::prelude::any::<String>(),
            ]
        ) {
            let composed: String = text.nfkc().collect();
            let mut definition = String::new();
            push_words(composed.to_lowercase().chars(), &mut definition);
            proptest::prop_assert_eq!(normalized(&text), definition);
        }
    }

    #[test]
    fn ascii_runs_end_at_the_first_byte_that_is_not_ascii() {
        for length in [0, 1, 31, 32, 33, 64, 70] {
            let text = format!("{}é{}", "a".repeat(length), "b".repeat(40));
            assert_eq!(ascii_run_length(text.as_bytes()), length);
            assert_eq!(non_ascii_chars(&text).collect::<String>(), "é");
        }
        assert_eq!(ascii_run_length(b"all ascii"), 9);
        assert_eq!(non_ascii_chars("«a» b…").collect::<String>(), "«»…");
    }

    #[test]
    fn the_mixed_pass_agrees_with_the_character_pass() {
        for text in [
            "«Bonjour»\u{3000}l’ami…  Ça, VA? ",
            "e\u{301}cole ÉCOLE İstanbul ǅ ß ẞ 東京, 😀 — “x” ",
            "\u{a0}\u{2000}lead and trail\u{3000}",
            "ÀB\tc\u{0}d\u{7f}",
        ] {
            let composed: String = text.nfkc().collect();
            let mut by_characters = String::new();
            push_words(
                composed.chars().flat_map(char::to_lowercase),
                &mut by_characters,
            );
            let mut mixed = Vec::new();
            push_mixed_words(&composed, &mut mixed);
            assert_eq!(String::from_utf8(mixed).unwrap(), by_characters, "{text:?}");
            assert_eq!(normalized(text), by_characters, "{text:?}");
        }
    }

    #[test]
    fn lowercasing_character_by_character_keeps_the_final_sigma_rule() {
        assert_eq!(normalized("ΣΑΣ café"), "σας café");
        assert_eq!(normalized("İstanbul Ǆ"), "i̇stanbul dž");
    }

    #[test]
    fn empty_and_punctuation_only_give_empty() {
        assert_eq!(normalized(""), "");
        assert_eq!(normalized(" ,.;! "), "");
    }

    #[test]
    fn normalizes_a_column_and_keeps_nulls() {
        let input: ArrayRef = Arc::new(StringViewArray::from(vec![Some("A, B!"), None]));
        let output = call_arrays(&NormalizeText::new(), vec![input]).unwrap();
        let output = output.as_string::<i32>();
        assert_eq!(output.value(0), "a b");
        assert!(output.is_null(1));
    }
}
