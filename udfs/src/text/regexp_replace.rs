//! `regexp_replace`: DataFusion's function under its own name, with one faster path. When
//! the pattern, replacement and flags are constants and the replacement is a character
//! class deletion or substitution (`regexp_replace(text, '[^a-z0-9 ]', '', 'g')`, see
//! [`ByteClassReplacement`]), the text goes through a byte table; everything else is
//! DataFusion's own implementation, called as it is.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use super::byte_class_replacement::ByteClassReplacement;
use super::rewritten_rows::rewritten_rows;

/// The `regexp_replace` function: DataFusion's, with a byte-table path for classes.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RegexpReplace {
    builtin: Arc<ScalarUDF>,
}

impl RegexpReplace {
    /// The function, ready to wrap in a `ScalarUDF`.
    pub fn new() -> Self {
        Self {
            builtin: datafusion::functions::regex::regexp_replace(),
        }
    }
}

impl Default for RegexpReplace {
    fn default() -> Self {
        Self::new()
    }
}

/// The byte-table form of a call, when its text is a column and the rest are constants that
/// have one.
fn byte_class_form(args: &[ColumnarValue]) -> Option<(&ArrayRef, ByteClassReplacement)> {
    let [ColumnarValue::Array(text), constants @ ..] = args else {
        return None;
    };
    fn constant(value: &ColumnarValue) -> Option<&str> {
        match value {
            ColumnarValue::Scalar(scalar) => scalar.try_as_str().flatten(),
            ColumnarValue::Array(_) => None,
        }
    }
    let (pattern, replacement, flags) = match constants {
        [pattern, replacement] => (constant(pattern)?, constant(replacement)?, None),
        [pattern, replacement, flags] => (
            constant(pattern)?,
            constant(replacement)?,
            Some(constant(flags)?),
        ),
        _ => return None,
    };
    Some((
        text,
        ByteClassReplacement::new(pattern, replacement, flags)?,
    ))
}

impl ScalarUDFImpl for RegexpReplace {
    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn signature(&self) -> &Signature {
        self.builtin.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.builtin.return_type(arg_types)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.builtin.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match byte_class_form(&args.args) {
            Some((text, replacement)) => Ok(ColumnarValue::Array(rewritten_rows(
                self.name(),
                text,
                |value, out| replacement.replace_into(value.as_bytes(), out),
            )?)),
            None => self.builtin.invoke_with_args(args),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.builtin.documentation()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{LargeStringArray, StringArray, StringViewArray};
    use datafusion::common::ScalarValue;

    use super::*;
    use nodefusion_function::testing::call;

    #[test]
    fn gives_datafusions_answers_for_every_layout_pattern_and_replacement() {
        let texts = [
            Some("Hello, World! 123 -- ok"),
            None,
            Some("café naïve Zürich 東京 😀 “quoted” l’été  \t\nend"),
            Some(""),
            Some("ÀÉÎ ßσς ǅ \u{0}\u{7f}\u{80}\u{10ffff}"),
            Some(",,,,a,,b,"),
        ];
        let layouts: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(texts.to_vec())),
            Arc::new(LargeStringArray::from(texts.to_vec())),
            Arc::new(StringViewArray::from(texts.to_vec())),
            Arc::new(StringArray::from(texts.repeat(2)).slice(3, 6)),
        ];
        let patterns = [
            "[^a-z0-9 ]",
            "[^a-z0-9 ]+",
            "[^[:alnum:][:space:]]",
            "[aeiou,]",
            "[aeiou,]+",
            ",",
            ",+",
            "\\.",
            "[\\x00-\\x7f]",
            "[^\\x00-\\x7f]+",
            "\\s+",
            "[a-z]",
        ];
        let ours = RegexpReplace::new();
        let builtin = datafusion::functions::regex::regexp_replace();
        for text in &layouts {
            for pattern in patterns {
                for replacement in ["", " ", "<->"] {
                    for flags in [Some("g"), None, Some("gi")] {
                        // Constants of the text's own type, as DataFusion's coercion makes them.
                        let constant = |value: &str| {
                            ColumnarValue::Scalar(
                                ScalarValue::Utf8(Some(value.to_string()))
                                    .cast_to(text.data_type())
                                    .unwrap(),
                            )
                        };
                        let mut args = vec![
                            ColumnarValue::Array(Arc::clone(text)),
                            constant(pattern),
                            constant(replacement),
                        ];
                        args.extend(flags.map(constant));
                        let rows = text.len();
                        let answer = |function: &dyn ScalarUDFImpl, args| {
                            call(function, args, rows)
                                .unwrap()
                                .into_array(rows)
                                .unwrap()
                        };
                        assert_eq!(
                            &answer(&ours, args.clone()),
                            &answer(builtin.inner().as_ref(), args),
                            "{pattern:?} -> {replacement:?} ({flags:?}) in {}",
                            text.data_type()
                        );
                    }
                }
            }
        }
    }
}
