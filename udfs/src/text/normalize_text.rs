//! `normalize_text(text)`: Unicode NFKC, lowercase, every punctuation character (general
//! category P*) replaced by a space, runs of whitespace collapsed to one space, trimmed.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::StringBuilder;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
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
    out.clear();
    // NFKC changes nothing in ASCII, nor in most text already in NFC form.
    let composed: Cow<str> = if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes
    {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    };
    if composed.is_ascii() {
        push_words(composed.chars().map(|c| c.to_ascii_lowercase()), out);
    } else {
        // `str::to_lowercase` knows the context rules (a final sigma).
        push_words(composed.to_lowercase().chars(), out);
    }
}

/// Whether `c` separates words: whitespace or punctuation (general category P*), with a
/// table lookup for ASCII.
#[inline]
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_whitespace() || c == '\u{b}' || (c.is_ascii_punctuation() && !is_ascii_symbol(c))
    } else {
        c.is_whitespace() || c.general_category_group() == GeneralCategoryGroup::Punctuation
    }
}

/// The ASCII characters `is_ascii_punctuation` accepts that Unicode files under symbols.
#[inline]
fn is_ascii_symbol(c: char) -> bool {
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
                let mut builder = StringBuilder::with_capacity(rows, text.value_bytes());
                let mut normalized = String::new();
                for row in 0..rows {
                    match text.get(row) {
                        Some(value) => {
                            normalize(value, &mut normalized);
                            builder.append_value(&normalized);
                        }
                        None => builder.append_null(),
                    }
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
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringViewArray};

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
    fn the_ascii_fast_path_agrees_with_unicode_categories() {
        for byte in 0u8..128 {
            let c = byte as char;
            let unicode = c.is_whitespace()
                || c.general_category_group() == GeneralCategoryGroup::Punctuation;
            assert_eq!(is_separator(c), unicode, "{c:?}");
        }
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
