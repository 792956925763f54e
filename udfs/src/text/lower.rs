//! `lower`: DataFusion's function under its own name, with a faster path for string
//! columns. DataFusion lowercases a column byte by byte only when every row of the batch
//! is ASCII; one non-ASCII row sends the whole batch through `str::to_lowercase` with a
//! string allocated per row. Here every row is written straight into the result: copied and
//! lowercased in place as ASCII, which is the whole answer where no character beyond ASCII
//! has a lowercase of its own (`é`, `東`, `🚀`); otherwise its ASCII runs so, each other
//! character by `char::to_lowercase`, which is what `str::to_lowercase` does for every
//! character but the Greek capital sigma (its lowercase depends on the letters around it): a
//! row holding one goes through `str::to_lowercase`, as in DataFusion, so the answers are the
//! same.
//! Scalars and dictionaries are DataFusion's own implementation, called as it is.

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use super::rewritten_rows::rewritten_rows;

/// The `lower` function: DataFusion's, lowercasing ASCII rows of a column without a
/// string per row.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Lower {
    builtin: Arc<ScalarUDF>,
}

impl Lower {
    /// The function, ready to wrap in a `ScalarUDF`.
    pub fn new() -> Self {
        Self {
            builtin: datafusion::functions::string::lower(),
        }
    }
}

impl Default for Lower {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends `text` lowercased as `str::to_lowercase` does to `out`.
#[inline]
pub(super) fn lowercase_into(text: &str, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(text.as_bytes());
    out[start..].make_ascii_lowercase();
    if lowercases_as_ascii(text) {
        return;
    }
    out.truncate(start);
    if text.contains('Σ') {
        out.extend_from_slice(text.to_lowercase().as_bytes());
        return;
    }
    let mut rest = text;
    loop {
        let ascii = rest
            .bytes()
            .position(|byte| !byte.is_ascii())
            .unwrap_or(rest.len());
        let start = out.len();
        out.extend_from_slice(&rest.as_bytes()[..ascii]);
        out[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        let Some(character) = rest.chars().next() else {
            return;
        };
        let mut encoded = [0; 4];
        for lower in character.to_lowercase() {
            out.extend_from_slice(lower.encode_utf8(&mut encoded).as_bytes());
        }
        rest = &rest[character.len_utf8()..];
    }
}

/// Whether `text` lowercased is `text` with its ASCII letters lowercased: no character
/// beyond ASCII in it has a lowercase of its own.
#[inline]
pub(super) fn lowercases_as_ascii(text: &str) -> bool {
    text.is_ascii() || !changes_beyond_ascii(text)
}

/// Whether a character of `text` beyond ASCII lowercases to anything but itself (most do
/// not: `é`, `東`, `🚀`).
fn changes_beyond_ascii(text: &str) -> bool {
    text.bytes().enumerate().any(|(index, byte)| {
        // A byte from 0xC0 up leads a character of two to four bytes.
        byte >= 0xC0 && {
            let character = text[index..].chars().next().unwrap_or_default();
            let mut lower = character.to_lowercase();
            !(lower.len() == 1 && lower.next() == Some(character))
        }
    })
}

impl ScalarUDFImpl for Lower {
    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn signature(&self) -> &Signature {
        self.builtin.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.builtin.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.as_slice() {
            [ColumnarValue::Array(text)]
                if matches!(
                    text.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                Ok(ColumnarValue::Array(rewritten_rows(
                    self.name(),
                    text,
                    lowercase_into,
                )?))
            }
            _ => self.builtin.invoke_with_args(args),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.builtin.documentation()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{
        ArrayRef, DictionaryArray, LargeStringArray, StringArray, StringViewArray,
    };
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::common::ScalarValue;

    use super::*;
    use nodefusion_function::testing::call;

    /// `function`'s answer to `args` over `rows` rows, as an array.
    fn answer(function: &dyn ScalarUDFImpl, args: Vec<ColumnarValue>, rows: usize) -> ArrayRef {
        call(function, args, rows)
            .unwrap()
            .into_array(rows)
            .unwrap()
    }

    #[test]
    fn gives_datafusions_answers_for_every_layout_with_nulls_and_non_ascii_rows() {
        let texts = [
            Some("Hello, World! 123"),
            None,
            Some("ÀÉÎ Ångström ẞ İstanbul"),
            Some(""),
            Some("ΟΔΟΣ ΣΑΣ Σ ΑΣ."),
            Some("MIXED ascii Then Ü"),
            Some("a longer ASCII ROW THAN TWELVE BYTES"),
            Some("\u{0}\u{7f}\u{80}\u{10ffff}"),
        ];
        let layouts: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(texts.to_vec())),
            Arc::new(LargeStringArray::from(texts.to_vec())),
            Arc::new(StringViewArray::from(texts.to_vec())),
            Arc::new(StringArray::from(texts.repeat(2)).slice(3, 8)),
            Arc::new(StringViewArray::from(texts.repeat(2)).slice(5, 6)),
            Arc::new(
                texts
                    .iter()
                    .copied()
                    .collect::<DictionaryArray<Int32Type>>(),
            ),
        ];
        let ours = Lower::new();
        for text in layouts {
            let rows = text.len();
            let args = vec![ColumnarValue::Array(text)];
            let expected = answer(Lower::new().builtin.inner().as_ref(), args.clone(), rows);
            assert_eq!(&answer(&ours, args, rows), &expected, "{expected:?}");
        }
    }

    #[test]
    fn lowercases_ascii_rows_in_place_and_others_as_to_lowercase_does() {
        let text: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("ABC def"),
            None,
            Some("ΣΑΣ ΑΣ"),
        ]));
        let lowered = answer(&Lower::new(), vec![ColumnarValue::Array(text)], 3);
        let lowered = lowered.as_any().downcast_ref::<StringViewArray>().unwrap();
        assert_eq!(lowered.value(0), "abc def");
        assert!(lowered.is_null(1));
        assert_eq!(lowered.value(2), "σας ας");
    }

    #[test]
    fn every_character_between_others_lowercases_as_to_lowercase_does() {
        let mut lowered = Vec::new();
        for character in (0..=0x10_ffff).filter_map(char::from_u32) {
            for text in [
                format!("{character}"),
                format!("Ab{character}ÉΩ{character}x "),
            ] {
                lowered.clear();
                lowercase_into(&text, &mut lowered);
                assert_eq!(
                    std::str::from_utf8(&lowered).unwrap(),
                    text.to_lowercase(),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn a_scalar_is_datafusions_answer() {
        let scalar = ColumnarValue::Scalar(ScalarValue::Utf8(Some("ÀB".to_string())));
        let lowered = call(&Lower::new(), vec![scalar], 1).unwrap();
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(value))) = lowered else {
            panic!("a scalar in, a scalar out: {lowered:?}");
        };
        assert_eq!(value, "àb");
    }
}
