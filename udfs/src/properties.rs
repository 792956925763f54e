//! Property tests of the built-in functions that compute a row from its arguments alone
//! (text and vector functions, `token_count`, `regexp_replace`, `lower`) over generated Arrow arrays: any text (empty,
//! whitespace, punctuation, any Unicode), NULLs, every string layout (`Utf8`, `LargeUtf8`,
//! `Utf8View`), slices with an offset, empty arrays; vectors with NaN and infinities, of
//! equal or different lengths. For each: no panic, and the same rows whatever the layout and
//! wherever the batch is split; `word_count` counts what `str::split_whitespace` does, and
//! `regexp_replace` and `lower` give DataFusion's own rows. `embed` and `http_get` have property tests of their own in
//! the integration tests (they need the model and a local service); the LLM functions are
//! tested there against the local OpenAI-compatible server at several concurrencies, batch
//! sizes and partition counts.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, LargeStringArray, ListArray, StringArray,
    StringViewArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use nodefusion_function::testing::call;
use proptest::prelude::*;

/// Every built-in, made once: a stateful function keeps its instances between calls.
static FUNCTIONS: LazyLock<Vec<Arc<ScalarUDF>>> = LazyLock::new(crate::all_functions);

/// The built-in called `name`.
fn function(name: &str) -> &'static ScalarUDF {
    FUNCTIONS
        .iter()
        .find(|function| function.name() == name)
        .unwrap_or_else(|| panic!("no function {name}"))
}

/// Each row of `array` as text, NULL as "NULL".
fn rows(array: &ArrayRef) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let formatter = ArrayFormatter::try_new(array.as_ref(), &options).unwrap();
    (0..array.len())
        .map(|row| formatter.value(row).to_string())
        .collect()
}

/// `function` on `columns` (all of one length) followed by `constants`: the rows of its
/// result, or its error as text. A panic fails the property.
fn outcome(
    name: &str,
    columns: &[ArrayRef],
    constants: &[ScalarValue],
) -> Result<Vec<String>, String> {
    let rows_in = columns.first().map_or(1, |column| column.len());
    let args = columns
        .iter()
        .map(|column| ColumnarValue::Array(Arc::clone(column)))
        .chain(constants.iter().cloned().map(ColumnarValue::Scalar))
        .collect();
    let result = call(function(name).inner().as_ref(), args, rows_in)
        .and_then(|value| value.into_array(rows_in))
        .map_err(|error| error.strip_backtrace())?;
    assert_eq!(result.len(), rows_in, "{name}: one result per row");
    Ok(rows(&result))
}

/// The rows DataFusion's own `builtin` gives for `column` followed by `constants`.
fn datafusions_rows(
    builtin: &ScalarUDF,
    column: &ArrayRef,
    constants: &[ScalarValue],
) -> Vec<String> {
    let args = std::iter::once(ColumnarValue::Array(Arc::clone(column)))
        .chain(constants.iter().cloned().map(ColumnarValue::Scalar))
        .collect();
    let expected = call(builtin.inner().as_ref(), args, column.len())
        .and_then(|value| value.into_array(column.len()))
        .unwrap();
    rows(&expected)
}

/// The same outcome for the whole of `columns` and for the two parts of every split.
fn same_for_every_split(name: &str, columns: &[ArrayRef], constants: &[ScalarValue]) {
    let whole = outcome(name, columns, constants);
    let Ok(whole) = whole else {
        return;
    };
    let length = columns.first().map_or(0, |column| column.len());
    for at in [0, length / 3, length / 2, length] {
        let part = |offset: usize, len: usize| -> Vec<ArrayRef> {
            columns
                .iter()
                .map(|column| column.slice(offset, len))
                .collect()
        };
        let mut joined = outcome(name, &part(0, at), constants).expect("the whole succeeded");
        joined
            .extend(outcome(name, &part(at, length - at), constants).expect("the whole succeeded"));
        assert_eq!(joined, whole, "{name}: split at {at} of {length}");
    }
}

/// Text: ASCII words and punctuation, any Unicode, whitespace of every kind, or empty.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 .,;:!?'()\\-]{0,80}",
        "[ \t\n\r\u{a0}\u{3000}]{0,6}",
        any::<String>(),
        "\\PC{0,40}",
    ]
}

/// A column of texts, some NULL.
fn texts() -> impl Strategy<Value = Vec<Option<String>>> {
    prop::collection::vec(prop::option::weighted(0.85, text()), 0..24)
}

/// `values` in every string layout, and as a slice at an offset of a longer array.
fn layouts(values: &[Option<String>]) -> Vec<ArrayRef> {
    let mut padded: Vec<Option<String>> = vec![Some("before".into()), None];
    padded.extend(values.iter().cloned());
    padded.push(Some("after".into()));
    vec![
        Arc::new(StringArray::from(values.to_vec())),
        Arc::new(LargeStringArray::from(values.to_vec())),
        Arc::new(StringViewArray::from(values.to_vec())),
        Arc::new(StringArray::from(padded.clone()).slice(2, values.len())),
        Arc::new(StringViewArray::from(padded).slice(2, values.len())),
    ]
}

/// A function of one text column (with `constants` after it): the same rows in every
/// layout, and for every split.
fn check_text_function(name: &str, values: &[Option<String>], constants: &[ScalarValue]) {
    let layouts = layouts(values);
    let expected = outcome(name, &layouts[..1], constants);
    for layout in &layouts {
        let columns = [Arc::clone(layout)];
        assert_eq!(
            outcome(name, &columns, constants),
            expected,
            "{name} over {}",
            layout.data_type()
        );
        same_for_every_split(name, &columns, constants);
    }
}

/// A vector: NaN, infinities and ordinary numbers.
fn vector(dimensions: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(
        prop_oneof![
            8 => -100.0f32..100.0,
            1 => Just(f32::NAN),
            1 => Just(f32::INFINITY),
            1 => Just(f32::NEG_INFINITY),
            1 => Just(0.0f32),
        ],
        dimensions,
    )
}

/// A vector, or NULL.
type MaybeVector = Option<Vec<f32>>;

/// Two columns of vectors of `dimensions` values, some NULL.
fn vector_pairs() -> impl Strategy<Value = (usize, Vec<(MaybeVector, MaybeVector)>)> {
    (1usize..6).prop_flat_map(|dimensions| {
        let one = || prop::option::weighted(0.85, vector(dimensions));
        (
            Just(dimensions),
            prop::collection::vec((one(), one()), 0..20),
        )
    })
}

/// `values` as `FixedSizeList<Float32>` of `dimensions`.
fn fixed_size_list(dimensions: usize, values: &[MaybeVector]) -> ArrayRef {
    let flat: Vec<f32> = values
        .iter()
        .flat_map(|value| value.clone().unwrap_or_else(|| vec![0.0; dimensions]))
        .collect();
    let nulls = values.iter().map(Option::is_some).collect::<Vec<bool>>();
    Arc::new(FixedSizeListArray::new(
        Arc::new(Field::new_list_field(DataType::Float32, true)),
        dimensions as i32,
        Arc::new(Float32Array::from(flat)),
        Some(nulls.into()),
    ))
}

/// `values` as `List<Float32>`.
fn list(values: &[MaybeVector]) -> ArrayRef {
    let lengths = values
        .iter()
        .map(|value| value.as_ref().map_or(0, Vec::len));
    let flat: Vec<f32> = values.iter().flatten().flatten().copied().collect();
    let nulls = values.iter().map(Option::is_some).collect::<Vec<bool>>();
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float32, true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(Float32Array::from(flat)),
        Some(nulls.into()),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn text_functions_agree_across_layouts_and_splits(values in texts()) {
        check_text_function("normalize_text", &values, &[]);
        check_text_function("word_count", &values, &[]);
        check_text_function("token_count", &values, &[]);
    }

    #[test]
    fn word_count_counts_what_split_whitespace_counts(values in texts()) {
        let column: ArrayRef = Arc::new(StringArray::from(values.clone()));
        let expected: Vec<String> = values
            .iter()
            .map(|value| value.as_ref().map_or("NULL".into(), |text| {
                text.split_whitespace().count().to_string()
            }))
            .collect();
        prop_assert_eq!(outcome("word_count", &[column], &[]), Ok(expected));
    }

    #[test]
    fn regexp_replace_gives_datafusions_rows_for_any_class(
        values in texts(),
        pattern in prop_oneof![
            Just("[^a-z0-9 ]"), Just("[^a-z ]+"), Just("[[:punct:]]"), Just("[aeiou,. ]+"),
            Just(","), Just("[^\\x00-\\x7f]"), Just("\\s+"),
        ],
        replacement in prop_oneof![Just(""), Just(" "), Just("<>")],
    ) {
        let builtin = datafusion::functions::regex::regexp_replace();
        for column in layouts(&values) {
            // Constants of the text's own type, as DataFusion's coercion makes them.
            let constant = |value: &str| {
                ScalarValue::Utf8(Some(value.to_string())).cast_to(column.data_type()).unwrap()
            };
            let constants = [constant(pattern), constant(replacement), constant("g")];
            let expected = datafusions_rows(&builtin, &column, &constants);
            let columns = [column];
            prop_assert_eq!(outcome("regexp_replace", &columns, &constants), Ok(expected));
            same_for_every_split("regexp_replace", &columns, &constants);
        }
    }

    #[test]
    fn lower_gives_datafusions_rows(
        values in prop::collection::vec(
            prop::option::weighted(0.85, prop_oneof![text(), "[ΣΑΟσς .A'-]{0,16}"]),
            0..24,
        ),
    ) {
        let builtin = datafusion::functions::string::lower();
        for column in layouts(&values) {
            let expected = datafusions_rows(&builtin, &column, &[]);
            let columns = [column];
            prop_assert_eq!(outcome("lower", &columns, &[]), Ok(expected));
            same_for_every_split("lower", &columns, &[]);
        }
    }

    #[test]
    fn chunk_text_agrees_across_layouts_and_splits(
        values in texts(),
        max_chars in -2i64..40,
        overlap in -2i64..40,
    ) {
        let constants = [ScalarValue::Int64(Some(max_chars)), ScalarValue::Int64(Some(overlap))];
        check_text_function("chunk_text", &values, &constants);
    }

    #[test]
    fn vector_functions_agree_across_layouts_and_splits(
        (dimensions, pairs) in vector_pairs(),
        other_length in 1usize..6,
    ) {
        let (left, right): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
        // The second column as a list whose first vector may have another length.
        let mut ragged = right.clone();
        if let Some(Some(first)) = ragged.first_mut() {
            first.resize(other_length, 1.0);
        }
        let columns = [
            [fixed_size_list(dimensions, &left), fixed_size_list(dimensions, &right)],
            [list(&left), list(&right)],
            [fixed_size_list(dimensions, &left), list(&right)],
            [list(&left), list(&ragged)],
        ];
        for name in ["cosine_similarity", "dot_product", "l2_distance"] {
            let expected = outcome(name, &columns[0], &[]);
            prop_assert!(expected.is_ok(), "{name}: {expected:?}");
            for pair in &columns[..3] {
                prop_assert_eq!(&outcome(name, pair, &[]), &expected);
                same_for_every_split(name, pair, &[]);
            }
            same_for_every_split(name, &columns[3], &[]);
        }
        let fixed = outcome("vector_norm", &columns[0][..1], &[]);
        prop_assert_eq!(outcome("vector_norm", &columns[1][..1], &[]), fixed);
        same_for_every_split("vector_norm", &columns[1][..1], &[]);
    }
}
