//! `chunk_text(text, max_chars, overlap)`: splits a text into chunks of at most
//! `max_chars` characters that break on whitespace where possible, each next chunk
//! repeating up to `overlap` characters (whole words) of the one before. Returns a
//! `List<Utf8>`, so that `unnest(chunk_text(...))` gives one row per chunk.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Int64Array, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::cast::as_int64_array;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use nodefusion_function::arrays::StringColumn;

use super::ascii_space::is_ascii_space;
use nodefusion_function::{DOC_SECTION_TEXT, ScalarArguments, invoke_kernel, string_argument_type};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_TEXT,
        "Splits a text into chunks of at most max_chars characters, breaking on whitespace \
         where possible; each chunk repeats up to overlap characters of whole words from the \
         one before.",
        "chunk_text(text, max_chars, overlap)",
    )
    .with_sql_example(
        "```sql\n> SELECT unnest(chunk_text('the quick brown fox', 10, 0));\n+-----------+\n| the quick |\n| brown fox |\n+-----------+\n```",
    )
    .with_argument("text", "The text to split.")
    .with_argument("max_chars", "The most characters a chunk may hold (at least 1).")
    .with_argument(
        "overlap",
        "How many characters of the previous chunk the next may repeat (0 to max_chars - 1).",
    )
    .build()
});

/// The `chunk_text` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ChunkText {
    signature: Signature,
}

impl ChunkText {
    /// The function, ready to wrap in a `ScalarUDF`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(vec!["text", "max_chars", "overlap"])
                .expect("user-defined signatures take any parameter names"),
        }
    }
}

impl Default for ChunkText {
    fn default() -> Self {
        Self::new()
    }
}

/// The chunks of `text`: each at most `max_chars` characters, whitespace-trimmed, broken
/// after the last whitespace that fits (mid-word only when a word is longer than
/// `max_chars`), the next starting at the first word that begins within the last `overlap`
/// characters of the chunk before.
pub fn chunk(text: &str, max_chars: usize, overlap: usize) -> Vec<&str> {
    let mut chunks = Vec::new();
    for_each_chunk(text, max_chars, overlap, &mut Vec::new(), |piece| {
        chunks.push(piece);
    });
    chunks
}

/// Calls `emit` with each chunk of `text` in order (see [`chunk`]). An ASCII text is cut by
/// its bytes, each a character; any other is indexed by character in `characters` (kept
/// from row to row by the caller, so that no row allocates).
fn for_each_chunk<'a>(
    text: &'a str,
    max_chars: usize,
    overlap: usize,
    characters: &mut Vec<(usize, char)>,
    mut emit: impl FnMut(&'a str),
) {
    if text.is_ascii() {
        let bytes = text.as_bytes();
        let is_space = |index: usize| is_ascii_space(bytes[index]);
        for_each_range(bytes.len(), is_space, max_chars, overlap, |start, end| {
            emit(&text[start..end]);
        });
    } else {
        for_each_chunk_by_characters(text, max_chars, overlap, characters, emit);
    }
}

/// [`for_each_chunk`] for any text: indexed by character first, in `chars`.
fn for_each_chunk_by_characters<'a>(
    text: &'a str,
    max_chars: usize,
    overlap: usize,
    chars: &mut Vec<(usize, char)>,
    mut emit: impl FnMut(&'a str),
) {
    chars.clear();
    chars.extend(text.char_indices());
    let chars = &*chars;
    let byte = |index: usize| chars.get(index).map_or(text.len(), |(byte, _)| *byte);
    let is_space = |index: usize| chars[index].1.is_whitespace();
    for_each_range(chars.len(), is_space, max_chars, overlap, |start, end| {
        emit(&text[byte(start)..byte(end)]);
    });
}

/// The chunking itself, over `length` characters of which `is_space` tells the
/// whitespace: calls `emit` with each chunk's character range `start..end`.
#[inline]
fn for_each_range(
    length: usize,
    is_space: impl Fn(usize) -> bool,
    max_chars: usize,
    overlap: usize,
    mut emit: impl FnMut(usize, usize),
) {
    let skip_spaces = |mut index: usize| {
        while index < length && is_space(index) {
            index += 1;
        }
        index
    };
    let mut start = skip_spaces(0);
    while start < length {
        let limit = start + max_chars;
        let end = if limit >= length {
            length
        } else {
            (start + 1..=limit)
                .rev()
                .find(|&index| is_space(index))
                .unwrap_or(limit)
        };
        let mut trimmed_end = end;
        while trimmed_end > start && is_space(trimmed_end - 1) {
            trimmed_end -= 1;
        }
        emit(start, trimmed_end);
        if end >= length {
            break;
        }
        let mut next = end.saturating_sub(overlap).max(start + 1);
        while overlap > 0 && next < end && !is_space(next - 1) {
            next += 1;
        }
        start = skip_spaces(next);
    }
}

fn checked_sizes(row: usize, max_chars: i64, overlap: i64) -> Result<(usize, usize)> {
    if max_chars < 1 {
        return exec_err!("chunk_text: max_chars must be at least 1, got {max_chars} (row {row})");
    }
    if overlap < 0 || overlap >= max_chars {
        return exec_err!(
            "chunk_text: overlap must be between 0 and max_chars - 1 = {}, got {overlap} (row {row})",
            max_chars - 1
        );
    }
    Ok((max_chars as usize, overlap as usize))
}

fn value_at(array: &Int64Array, row: usize) -> Option<i64> {
    let row = if array.len() == 1 { 0 } else { row };
    datafusion::arrow::array::Array::is_valid(array, row).then(|| array.value(row))
}

impl ScalarUDFImpl for ChunkText {
    fn name(&self) -> &str {
        "chunk_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [text, max_chars, overlap] = arg_types else {
            return plan_err!(
                "chunk_text takes 3 arguments (text, max_chars, overlap), got {}",
                arg_types.len()
            );
        };
        let Some(text) = string_argument_type(text) else {
            return plan_err!("chunk_text: text must be a string, got {text}");
        };
        for (name, data_type) in [("max_chars", max_chars), ("overlap", overlap)] {
            if !(data_type.is_integer() || data_type.is_null()) {
                return plan_err!("chunk_text: {name} must be an integer, got {data_type}");
            }
        }
        Ok(vec![text, DataType::Int64, DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_kernel(
            self.name(),
            args,
            ScalarArguments::Broadcast,
            |arrays, rows| {
                let text = StringColumn::try_new(self.name(), &arrays[0])?;
                let max_chars = as_int64_array(&arrays[1])?;
                let overlap = as_int64_array(&arrays[2])?;
                let mut builder =
                    ListBuilder::new(StringBuilder::with_capacity(rows, text.value_bytes()));
                let mut characters = Vec::new();
                for row in 0..rows {
                    let (Some(value), Some(max_chars), Some(overlap)) = (
                        text.get(row),
                        value_at(max_chars, row),
                        value_at(overlap, row),
                    ) else {
                        builder.append_null();
                        continue;
                    };
                    let (max_chars, overlap) = checked_sizes(row, max_chars, overlap)?;
                    for_each_chunk(value, max_chars, overlap, &mut characters, |piece| {
                        builder.values().append_value(piece);
                    });
                    builder.append(true);
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
    use datafusion::common::ScalarValue;

    use super::*;
    use nodefusion_function::testing::call;

    #[test]
    fn breaks_on_whitespace() {
        assert_eq!(
            chunk("the quick brown fox", 10, 0),
            vec!["the quick", "brown fox"]
        );
        assert_eq!(chunk("  spaced   out  ", 100, 0), vec!["spaced   out"]);
    }

    #[test]
    fn splits_a_word_longer_than_max_chars() {
        assert_eq!(chunk("abcdefghij k", 4, 0), vec!["abcd", "efgh", "ij k"]);
    }

    #[test]
    fn overlap_repeats_whole_words() {
        assert_eq!(
            chunk("one two three four five", 13, 5),
            vec!["one two three", "three four", "four five"]
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(chunk("héllo wörld ñ", 5, 0), vec!["héllo", "wörld", "ñ"]);
    }

    #[test]
    fn an_ascii_text_is_cut_by_bytes_as_by_characters() {
        let text = "one\ttwo\x0bthree  four\nfive six\x0c seven\r\neight ";
        for max_chars in 1..20 {
            for overlap in 0..max_chars {
                let mut by_characters = Vec::new();
                for_each_chunk_by_characters(text, max_chars, overlap, &mut Vec::new(), |piece| {
                    by_characters.push(piece);
                });
                assert_eq!(chunk(text, max_chars, overlap), by_characters);
            }
        }
    }

    #[test]
    fn every_chunk_fits_and_no_word_is_lost() {
        let text = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod";
        for max_chars in 1..30 {
            let chunks = chunk(text, max_chars, 0);
            assert!(chunks.iter().all(|c| c.chars().count() <= max_chars));
            assert_eq!(chunks.concat().replace(' ', ""), text.replace(' ', ""));
        }
    }

    #[test]
    fn empty_text_gives_no_chunks() {
        assert!(chunk("", 10, 0).is_empty());
        assert!(chunk("   ", 10, 0).is_empty());
    }

    fn chunk_column(text: ArrayRef, max_chars: i64, overlap: i64) -> Result<ArrayRef> {
        let rows = text.len();
        call(
            &ChunkText::new(),
            vec![
                ColumnarValue::Array(text),
                ColumnarValue::Scalar(ScalarValue::Int64(Some(max_chars))),
                ColumnarValue::Scalar(ScalarValue::Int64(Some(overlap))),
            ],
            rows,
        )?
        .into_array(rows)
    }

    #[test]
    fn a_column_gives_a_list_per_row_and_keeps_nulls() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("a b c"), None, Some("")]));
        let output = chunk_column(text, 3, 0).unwrap();
        let lists = output.as_list::<i32>();
        let first = lists.value(0);
        let first = first.as_string::<i32>();
        assert_eq!((first.value(0), first.value(1)), ("a b", "c"));
        assert!(lists.is_null(1));
        assert_eq!(lists.value(2).len(), 0);
    }

    #[test]
    fn rows_beyond_ascii_one_after_another_give_their_own_chunks() {
        let rows = [
            "a longer row with ünïcödé words in it, several of them",
            "ñ ö",
            "plain ascii between",
            "日本語 の テキスト",
        ];
        let text: ArrayRef = Arc::new(StringArray::from(rows.to_vec()));
        let output = chunk_column(text, 8, 2).unwrap();
        let lists = output.as_list::<i32>();
        for (row, text) in rows.iter().enumerate() {
            let chunks = lists.value(row);
            let chunks = chunks.as_string::<i32>();
            let chunks: Vec<&str> = chunks.iter().flatten().collect();
            assert_eq!(chunks, chunk(text, 8, 2), "row {row}");
        }
    }

    #[test]
    fn bad_sizes_are_errors_naming_the_argument() {
        let text: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        let error = chunk_column(text.clone(), 0, 0).unwrap_err().to_string();
        assert!(error.contains("max_chars must be at least 1"), "{error}");
        let error = chunk_column(text, 5, 5).unwrap_err().to_string();
        assert!(
            error.contains("overlap must be between 0 and max_chars - 1 = 4"),
            "{error}"
        );
    }

    #[test]
    fn coercion_names_the_bad_argument() {
        let error = ChunkText::new()
            .coerce_types(&[DataType::Utf8, DataType::Utf8, DataType::Int64])
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_chars must be an integer"), "{error}");
    }
}
