//! `word_count(text)`: the number of whitespace-separated words, as `Int64`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::Int64Builder;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use nodefusion_function::arrays::StringColumn;
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
                    builder.append_option(
                        text.get(row)
                            .map(|value| value.split_whitespace().count() as i64),
                    );
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
}
