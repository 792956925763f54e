//! The text functions one by one, at 1,000, 8,192 and 65,536 rows of 200-character
//! sentences (the document generator's, about half of them with a non-ASCII word), in bytes
//! per second of input: nodefusion's `word_count`, `normalize_text` and `chunk_text`, and
//! `lower` and `regexp_replace` as a pipeline's SQL node calls them (nodefusion's
//! `lower` and `regexp_replace` against DataFusion's own), and `token_count`'s counting with the default
//! model's tokenizer (nodefusion's byte path for ASCII texts, the tokenizer itself for the
//! others) against Hugging Face's `encode` of every text.
//!
//! Baseline, in the same process: a plain scan of the same bytes that counts the spaces
//! (what `memchr`'s counting does, in blocks the compiler vectorizes), the pace of reading
//! the bytes once. `cargo bench --bench text_functions`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use nodefusion::datagen::{SplitMix64, text_of_length};
use nodefusion_function::testing::call;
use nodefusion_model::{DEFAULT_MODEL, Tokens, resolve};
use tokenizers::Tokenizer;

const ROWS: [usize; 3] = [1_000, 8_192, 65_536];
const CHARACTERS: usize = 200;
/// The most rows the tokenizer cases run at: beyond, one Hugging Face call takes seconds.
const TOKENIZER_ROWS: usize = 8_192;

fn sentences(rows: usize) -> ArrayRef {
    let mut rng = SplitMix64::new(42);
    Arc::new(StringArray::from_iter_values(
        (0..rows).map(|_| text_of_length(&mut rng, CHARACTERS)),
    ))
}

fn function(name: &str) -> Arc<ScalarUDF> {
    nodefusion_udfs::all_functions()
        .into_iter()
        .find(|function| function.name() == name)
        .unwrap_or_else(|| panic!("nodefusion has {name}"))
}

fn text(value: &str) -> ColumnarValue {
    ColumnarValue::Scalar(ScalarValue::Utf8(Some(value.to_string())))
}

fn invoke(function: &ScalarUDF, column: &ArrayRef, constants: &[ColumnarValue]) -> usize {
    let mut args = vec![ColumnarValue::Array(Arc::clone(column))];
    args.extend_from_slice(constants);
    let result = call(function.inner().as_ref(), args, column.len()).unwrap();
    black_box(result).into_array(column.len()).unwrap().len()
}

/// The tokens of every text of `column`, as `token_count` counts them.
fn count_tokens(tokens: &Tokens, column: &ArrayRef) -> usize {
    let texts = column.as_string::<i32>();
    texts
        .iter()
        .flatten()
        .map(|text| tokens.count(text).unwrap())
        .sum()
}

/// The tokens of every text of `column`, each encoded by the Hugging Face tokenizer.
fn encode_all(tokenizer: &Tokenizer, column: &ArrayRef) -> usize {
    let texts = column.as_string::<i32>();
    texts
        .iter()
        .flatten()
        .map(|text| tokenizer.encode_fast(text, false).unwrap().len())
        .sum()
}

/// The baseline: the spaces of `bytes`, counted in blocks whose counters fit a byte, a loop
/// the compiler turns into SIMD.
fn count_spaces(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|block| {
            let spaces: u8 = block.iter().map(|&byte| u8::from(byte == b' ')).sum();
            usize::from(spaces)
        })
        .sum()
}

fn text_functions(c: &mut Criterion) {
    let lower = datafusion::functions::string::lower();
    let builtin_regexp_replace = datafusion::functions::regex::regexp_replace();
    let class = [text("[^a-z0-9 ]"), text(""), text("g")];
    let word_count = function("word_count");
    let cases: Vec<(&str, Arc<ScalarUDF>, Vec<ColumnarValue>)> = vec![
        ("word_count", Arc::clone(&word_count), vec![]),
        ("normalize_text", function("normalize_text"), vec![]),
        (
            "chunk_text",
            function("chunk_text"),
            vec![
                ColumnarValue::Scalar(ScalarValue::Int64(Some(64))),
                ColumnarValue::Scalar(ScalarValue::Int64(Some(16))),
            ],
        ),
        ("lower (nodefusion)", function("lower"), vec![]),
        ("lower (DataFusion)", lower, vec![]),
        (
            "regexp_replace [^a-z0-9 ] (nodefusion)",
            function("regexp_replace"),
            class.to_vec(),
        ),
        (
            "regexp_replace [^a-z0-9 ] (DataFusion)",
            builtin_regexp_replace,
            class.to_vec(),
        ),
    ];
    let model = resolve(DEFAULT_MODEL).expect("the default model is installed");
    let tokens = Tokens::load(&model).unwrap();
    let mut tokenizer = Tokenizer::from_file(model.join("tokenizer.json")).unwrap();
    tokenizer.with_truncation(None).unwrap();
    tokenizer.with_padding(None);
    let mut group = c.benchmark_group("text");
    for rows in ROWS {
        let column = sentences(rows);
        let bytes = column.as_string::<i32>().value_data().len();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::new("byte scan", rows), &column, |b, column| {
            let values = column.as_string::<i32>().value_data();
            b.iter(|| count_spaces(black_box(values)));
        });
        for (name, function, constants) in &cases {
            group.bench_with_input(BenchmarkId::new(*name, rows), &column, |b, column| {
                b.iter(|| invoke(function, column, constants));
            });
        }
        if rows <= TOKENIZER_ROWS {
            group.bench_with_input(
                BenchmarkId::new("token_count", rows),
                &column,
                |b, column| {
                    b.iter(|| count_tokens(&tokens, column));
                },
            );
            group.bench_with_input(
                BenchmarkId::new("Hugging Face encode", rows),
                &column,
                |b, column| b.iter(|| encode_all(&tokenizer, column)),
            );
        }
        let cleaned = call(
            function("regexp_replace").inner().as_ref(),
            [vec![ColumnarValue::Array(column)], class.to_vec()].concat(),
            rows,
        )
        .unwrap()
        .into_array(rows)
        .unwrap();
        let cleaned_bytes = cleaned.as_string::<i32>().value_data().len();
        group.throughput(Throughput::Bytes(cleaned_bytes as u64));
        group.bench_with_input(
            BenchmarkId::new("word_count, ASCII after regexp_replace", rows),
            &cleaned,
            |b, column| b.iter(|| invoke(&word_count, column, &[])),
        );
        if rows <= TOKENIZER_ROWS {
            group.bench_with_input(
                BenchmarkId::new("token_count, ASCII after regexp_replace", rows),
                &cleaned,
                |b, column| b.iter(|| count_tokens(&tokens, column)),
            );
            group.bench_with_input(
                BenchmarkId::new("Hugging Face encode, ASCII after regexp_replace", rows),
                &cleaned,
                |b, column| b.iter(|| encode_all(&tokenizer, column)),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, text_functions);
criterion_main!(benches);
