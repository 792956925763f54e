//! `embed` with the real all-MiniLM-L6-v2: vectors that match Python sentence-transformers
//! (tests/fixtures/embeddings.json), null and repeated texts, results independent of batch
//! size and partitions (a property test over generated texts and string layouts too), and
//! clear errors for a missing model.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema};
use nodefusion::settings::Precision;
use nodefusion::{Input, Node, Pipeline, new_context};
use nodefusion_model::Arithmetic;

use crate::support::parquet_from_sql;

#[derive(serde::Deserialize)]
struct Reference {
    text: String,
    vector: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let fixture = std::fs::read_to_string("tests/fixtures/embeddings.json").unwrap();
    serde_json::from_str(&fixture).unwrap()
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn texts_input(texts: Vec<Option<String>>) -> Input {
    texts_input_as(texts, DataType::Utf8)
}

/// `texts_input` with the column in the string layout `layout`.
fn texts_input_as(texts: Vec<Option<String>>, layout: DataType) -> Input {
    let schema = Arc::new(Schema::new(vec![Field::new("text", layout.clone(), true)]));
    let column: ArrayRef = Arc::new(StringArray::from(texts));
    let column = datafusion::arrow::compute::cast(&column, &layout).unwrap();
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![column]).unwrap();
    Input::batches(schema, vec![batch])
}

/// The vectors of the `vector` column, `None` for null rows.
pub(crate) fn vectors(batches: &[RecordBatch]) -> Vec<Option<Vec<f32>>> {
    batches
        .iter()
        .flat_map(|batch| {
            let column = batch.column_by_name("vector").unwrap().as_fixed_size_list();
            (0..column.len())
                .map(|row| {
                    column.is_valid(row).then(|| {
                        column
                            .value(row)
                            .as_primitive::<Float32Type>()
                            .values()
                            .to_vec()
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Embeds `texts` in batches of `batch_size` over `partitions` partitions, each instance
/// computing with `threads` threads (`None`: the default split of the cores).
async fn embed_all(
    texts: Vec<Option<String>>,
    batch_size: usize,
    partitions: usize,
    threads: Option<usize>,
) -> Vec<Option<Vec<f32>>> {
    embed_all_as(texts_input(texts), batch_size, partitions, threads).await
}

/// `embed_all` over `input`.
async fn embed_all_as(
    input: Input,
    batch_size: usize,
    partitions: usize,
    threads: Option<usize>,
) -> Vec<Option<Vec<f32>>> {
    embed_all_in(input, batch_size, partitions, threads, Precision::Auto).await
}

/// `embed_all_as` computing in `precision`.
async fn embed_all_in(
    input: Input,
    batch_size: usize,
    partitions: usize,
    threads: Option<usize>,
    precision: Precision,
) -> Vec<Option<Vec<f32>>> {
    let ctx = new_context().unwrap();
    let mut node = Node::function("vector", "embed")
        .inputs(["text"])
        .batch_size(batch_size)
        .precision(precision);
    if let Some(threads) = threads {
        node = node.threads(threads);
    }
    let pipeline = Pipeline::new("embed").node(node).partitions(partitions);
    let compiled = pipeline.compile(&ctx, &input).await.unwrap();
    vectors(&compiled.collect().await.unwrap())
}

/// In the CPU's fastest arithmetic (`auto`) and in each one it has by name (fp32; bf16
/// products with AVX-512 BF16; int16 products with AVX-512 VNNI).
#[tokio::test]
async fn vectors_match_sentence_transformers_in_every_precision() {
    let references = references();
    assert!(references.len() >= 30);
    let texts: Vec<Option<String>> = references.iter().map(|r| Some(r.text.clone())).collect();
    let named = Arithmetic::ALL
        .into_iter()
        .filter(|arithmetic| arithmetic.supported())
        .map(Precision::Exactly);
    for precision in std::iter::once(Precision::Auto).chain(named) {
        let vectors = embed_all_in(texts_input(texts.clone()), 8, 1, None, precision).await;
        for (reference, vector) in references.iter().zip(&vectors) {
            let vector = vector.as_ref().expect("a text gives a vector");
            assert_eq!(vector.len(), 384);
            let similarity = cosine(vector, &reference.vector);
            assert!(
                similarity >= 0.999,
                "precision {precision}: cosine {similarity} for {:?}",
                reference.text
            );
        }
    }
}

#[tokio::test]
async fn nulls_give_null_vectors_and_results_do_not_depend_on_batching_or_threads() {
    let references = references();
    let mut texts: Vec<Option<String>> = Vec::new();
    for (i, reference) in references.iter().enumerate().take(12) {
        texts.push(Some(reference.text.clone()));
        if i % 3 == 0 {
            texts.push(None);
            // A repeated text is embedded once per batch and gets the same vector.
            texts.push(Some(reference.text.clone()));
        }
    }
    let baseline = embed_all(texts.clone(), 256, 1, Some(1)).await;
    for (text, vector) in texts.iter().zip(&baseline) {
        assert_eq!(text.is_none(), vector.is_none());
    }
    for (batch_size, partitions, threads) in [(1, 1, None), (7, 2, Some(2)), (64, 4, None)] {
        let other = embed_all(texts.clone(), batch_size, partitions, threads).await;
        assert_eq!(other.len(), baseline.len());
        for (a, b) in baseline.iter().zip(&other) {
            match (a, b) {
                (Some(a), Some(b)) => assert!(
                    cosine(a, b) > 0.99999,
                    "batch_size {batch_size}, partitions {partitions}, threads {threads:?}"
                ),
                (None, None) => {}
                _ => panic!("null where there should be a vector"),
            }
        }
    }
}

#[tokio::test]
async fn embed_works_in_sql_with_vector_functions() {
    let ctx = new_context().unwrap();
    let batches = ctx
        .sql(
            "SELECT round(vector_norm(embed('Hello, world!')), 4) AS norm, \
             arrow_typeof(embed('x')) AS type, \
             cosine_similarity(embed('A man is eating food.'), embed('A man eats a meal.')) > \
             cosine_similarity(embed('A man is eating food.'), embed('The stock market fell.')) \
             AS closer",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(crate::support::column_text(&batches, "norm"), ["1.0"]);
    assert_eq!(
        crate::support::column_text(&batches, "type"),
        ["FixedSizeList(384 x Float32)"]
    );
    assert_eq!(crate::support::column_text(&batches, "closer"), ["true"]);
}

#[tokio::test]
async fn a_missing_model_is_a_planning_error_that_says_how_to_get_one() {
    let ctx = new_context().unwrap();
    let error = ctx
        .sql("SELECT embed('x', 'no-such-org/no-such-model')")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("model 'no-such-org/no-such-model' not found"),
        "{error}"
    );
    assert!(error.contains("model pull"), "{error}");
}

/// Runs `nodefusion run embed.toml` in `dir` with the result cache in `dir/cache` and
/// `--set` items `set`; returns the summary.
fn run_embed_file(dir: &std::path::Path, set: &[&str]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_nodefusion"));
    command
        .args(["run", "embed.toml"])
        .current_dir(dir)
        .env("NODEFUSION_CACHE", dir.join("cache"));
    for item in set {
        command.args(["--set", item]);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn with_cache_readwrite_repeated_texts_are_embedded_once_and_give_the_same_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let select = |rows: usize| {
        format!(
            "SELECT value AS id, CASE WHEN value % 7 = 0 THEN NULL ELSE 'sentence number ' || value END AS text \
             FROM generate_series(1, {rows}) ORDER BY value"
        )
    };
    parquet_from_sql(&dir.path().join("first.parquet"), &select(20)).await;
    parquet_from_sql(&dir.path().join("second.parquet"), &select(30)).await;
    std::fs::write(
        dir.path().join("embed.toml"),
        "[input]\npath = \"first.parquet\"\n[output]\npath = \"out.parquet\"\nmode = \"overwrite\"\n\
         [[nodes]]\nname = \"vector\"\nfunction = \"embed\"\ninputs = [\"text\"]\noutput = \"vector\"\n\
         batch_size = 8\ncache = \"readwrite\"\n",
    )
    .unwrap();
    let first = run_embed_file(dir.path(), &[]);
    assert!(!first.contains("cache hits"), "{first}");
    // 30 rows: the 20 of the first run (18 texts, 2 nulls) come from the cache, in batches
    // that mix kept and new rows.
    let second = run_embed_file(dir.path(), &["input.path=\"second.parquet\""]);
    assert!(second.contains("cache hits 18,"), "{second}");
    let ctx = new_context().unwrap();
    let read = |ctx: &datafusion::prelude::SessionContext| {
        let path = dir.path().join("out.parquet");
        let ctx = ctx.clone();
        async move {
            ctx.sql(&format!(
                "SELECT id, vector FROM '{}' ORDER BY id",
                path.display()
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
        }
    };
    let cached = vectors(&read(&ctx).await);
    run_embed_file(
        dir.path(),
        &[
            "input.path=\"second.parquet\"",
            "nodes.vector.cache=\"off\"",
        ],
    );
    assert_eq!(
        cached,
        vectors(&read(&ctx).await),
        "the same bits with and without the cache"
    );
    assert_eq!(cached.iter().filter(|v| v.is_none()).count(), 4);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(6))]

    /// Any text (empty, whitespace, any Unicode), NULLs, every string layout: no panic, a
    /// vector for each text and NULL for each NULL, the same vectors for any batch size and
    /// partition count.
    #[test]
    fn embed_gives_the_same_vectors_for_any_text_layout_and_batch_split(
        texts in proptest::collection::vec(
            proptest::option::weighted(0.85, proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[ \t\n]{0,4}",
                "[a-zA-Z ,.!?']{0,300}",
            ]),
            0..12,
        ),
        batch_size in 1usize..9,
        partitions in 1usize..4,
        large in proptest::prelude::any::<bool>(),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let layout = if large { DataType::LargeUtf8 } else { DataType::Utf8View };
        let baseline = runtime.block_on(embed_all(texts.clone(), 64, 1, Some(1)));
        let other = runtime.block_on(embed_all_as(
            texts_input_as(texts.clone(), layout),
            batch_size,
            partitions,
            None,
        ));
        proptest::prop_assert_eq!(baseline.len(), texts.len());
        proptest::prop_assert_eq!(other.len(), texts.len());
        for ((text, a), b) in texts.iter().zip(&baseline).zip(&other) {
            match (a, b) {
                (Some(a), Some(b)) => proptest::prop_assert!(cosine(a, b) > 0.99999, "{text:?}"),
                (None, None) => proptest::prop_assert!(text.is_none()),
                _ => proptest::prop_assert!(false, "a NULL where a vector should be: {text:?}"),
            }
        }
    }
}
