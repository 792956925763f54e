//! `top_k`: the same passages, ranks and scores as a brute-force search computed here in
//! f64 and as the per-pair exact search in SQL (`cosine_similarity` ranked by a window), from
//! real Parquet files and registered tables; the same result at any batch size and
//! partition count; ids, null and zero vectors, ties; errors that name what is wrong.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, AsArray, FixedSizeListArray, Float32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema, UInt64Type};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use nodefusion::datagen::SplitMix64;
use nodefusion::new_context;
use nodefusion::session::new_context_with_config;

const DIMENSION: usize = 12;

/// `rows` vectors of random values in [-1, 1); `None` rows stay null.
fn random_vectors(rows: usize, seed: u64) -> Vec<Option<Vec<f32>>> {
    let mut rng = SplitMix64::new(seed);
    (0..rows)
        .map(|_| {
            Some(
                (0..DIMENSION)
                    .map(|_| (rng.next_u64() % 2000) as f32 / 1000.0 - 1.0)
                    .collect(),
            )
        })
        .collect()
}

fn vector_array(vectors: &[Option<Vec<f32>>]) -> ArrayRef {
    Arc::new(
        FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
            vectors.iter().map(|vector| {
                vector
                    .as_ref()
                    .map(|v| v.iter().copied().map(Some).collect::<Vec<_>>())
            }),
            DIMENSION as i32,
        ),
    )
}

/// A batch of `name` ids (`{prefix}{row}`) and vectors.
fn vector_batch(prefix: &str, vectors: &[Option<Vec<f32>>]) -> RecordBatch {
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..vectors.len()).map(|row| format!("{prefix}{row}")),
    ));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new(
            "embedding",
            DataType::FixedSizeList(
                Arc::new(Field::new_list_field(DataType::Float32, true)),
                DIMENSION as i32,
            ),
            true,
        ),
    ]));
    RecordBatch::try_new(schema, vec![ids, vector_array(vectors)]).unwrap()
}

/// Writes `batch` to a Parquet file of small row groups, through DataFusion's writer.
async fn write_parquet(batch: RecordBatch, path: &Path) {
    let ctx = SessionContext::new();
    ctx.register_batch("rows", batch).unwrap();
    ctx.sql(&format!(
        "COPY rows TO '{}' STORED AS PARQUET OPTIONS (max_row_group_size 37)",
        path.display()
    ))
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
}

/// The `k` best passages of every query by brute force in f64: (query, passage, score);
/// null and zero vectors have no score.
fn brute_force(
    queries: &[Option<Vec<f32>>],
    passages: &[Option<Vec<f32>>],
    k: usize,
) -> Vec<(usize, usize, f64)> {
    let cosine = |a: &[f32], b: &[f32]| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        dot / (norm(a) * norm(b))
    };
    let mut expected = Vec::new();
    for (query, vector) in queries.iter().enumerate() {
        let Some(vector) = vector else { continue };
        let mut scored: Vec<(usize, f64)> = passages
            .iter()
            .enumerate()
            .filter_map(|(row, passage)| passage.as_ref().map(|p| (row, cosine(vector, p))))
            .filter(|(_, score)| score.is_finite())
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        expected.extend(
            scored
                .into_iter()
                .take(k)
                .map(|(row, score)| (query, row, score)),
        );
    }
    expected
}

/// The rows of a `top_k` result with positional ids: (query, passage, rank, score).
fn positional_rows(batches: &[RecordBatch]) -> Vec<(u64, u64, u32, f32)> {
    let mut rows = Vec::new();
    for batch in batches {
        let column = |name: &str| batch.column_by_name(name).unwrap();
        let queries = column("query_id").as_primitive::<UInt64Type>();
        let passages = column("passage_id").as_primitive::<UInt64Type>();
        let ranks = column("rank").as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
        let scores = column("score")
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap();
        for row in 0..batch.num_rows() {
            rows.push((
                queries.value(row),
                passages.value(row),
                ranks.value(row),
                scores.value(row),
            ));
        }
    }
    rows
}

struct Files {
    _dir: tempfile::TempDir,
    passages: String,
    queries: String,
    passage_vectors: Vec<Option<Vec<f32>>>,
    query_vectors: Vec<Option<Vec<f32>>>,
}

async fn files(passage_count: usize, query_count: usize) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let passage_vectors = random_vectors(passage_count, 1);
    let query_vectors = random_vectors(query_count, 2);
    let passages = dir.path().join("passages.parquet");
    let queries = dir.path().join("queries.parquet");
    write_parquet(vector_batch("p", &passage_vectors), &passages).await;
    write_parquet(vector_batch("q", &query_vectors), &queries).await;
    Files {
        passages: passages.display().to_string(),
        queries: queries.display().to_string(),
        _dir: dir,
        passage_vectors,
        query_vectors,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn matches_a_brute_force_search_from_parquet_files() {
    let files = files(500, 40).await;
    let ctx = new_context().unwrap();
    let sql = format!(
        "SELECT * FROM top_k('{}', 'embedding', '{}', 'embedding', 7)",
        files.passages, files.queries
    );
    let rows = positional_rows(&ctx.sql(&sql).await.unwrap().collect().await.unwrap());
    let expected = brute_force(&files.query_vectors, &files.passage_vectors, 7);
    assert_eq!(rows.len(), 40 * 7);
    for (row, (query, passage, score)) in rows.iter().zip(&expected) {
        assert_eq!((row.0, row.1), (*query as u64, *passage as u64), "{row:?}");
        assert!((row.3 as f64 - score).abs() < 1e-5, "{row:?} vs {score}");
    }
    let ranks: Vec<u32> = rows.iter().take(7).map(|row| row.2).collect();
    assert_eq!(ranks, (1..=7).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn agrees_with_the_exact_search_in_sql_and_names_ids() {
    let files = files(300, 25).await;
    let ctx = new_context().unwrap();
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE passages STORED AS PARQUET LOCATION '{}'",
        files.passages
    ))
    .await
    .unwrap();
    let top_k = format!(
        "SELECT query_id, passage_id FROM top_k('passages', 'embedding', '{}', 'embedding', 5, \
         'id', 'id') ORDER BY query_id, passage_id",
        files.queries
    );
    let exact = format!(
        "SELECT query_id, passage_id FROM ( \
           SELECT q.id AS query_id, p.id AS passage_id, row_number() OVER ( \
             PARTITION BY q.id ORDER BY cosine_similarity(q.embedding, p.embedding) DESC, p.id \
           ) AS rank \
           FROM '{}' q CROSS JOIN passages p) \
         WHERE rank <= 5 ORDER BY query_id, passage_id",
        files.queries
    );
    let found = ctx.sql(&top_k).await.unwrap().collect().await.unwrap();
    let wanted = ctx.sql(&exact).await.unwrap().collect().await.unwrap();
    let found_pairs: Vec<(String, String)> = crate::support::column_text(&found, "query_id")
        .into_iter()
        .zip(crate::support::column_text(&found, "passage_id"))
        .collect();
    let wanted_pairs: Vec<(String, String)> = crate::support::column_text(&wanted, "query_id")
        .into_iter()
        .zip(crate::support::column_text(&wanted, "passage_id"))
        .collect();
    assert_eq!(found_pairs.len(), 25 * 5);
    assert_eq!(found_pairs, wanted_pairs);
    assert!(found_pairs[0].0.starts_with('q') && found_pairs[0].1.starts_with('p'));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_result_does_not_depend_on_batch_size_or_partitions() {
    let files = files(700, 30).await;
    let sql = format!(
        "SELECT * FROM top_k('{}', 'embedding', '{}', 'embedding', 10)",
        files.passages, files.queries
    );
    let mut results = Vec::new();
    for (partitions, batch_size) in [(1, 8192), (4, 64), (3, 7)] {
        let config = SessionConfig::new()
            .with_target_partitions(partitions)
            .with_batch_size(batch_size)
            .with_repartition_file_min_size(0);
        let ctx = new_context_with_config(config).unwrap();
        let plan = ctx.sql(&sql).await.unwrap();
        results.push(positional_rows(&plan.collect().await.unwrap()));
    }
    assert_eq!(results[0].len(), 300);
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_in_several_partitions_nulls_zeros_and_ties() {
    let mut passages = random_vectors(40, 3);
    passages[5] = None;
    passages[6] = Some(vec![0.0; DIMENSION]);
    passages[20] = passages[10].clone();
    let mut queries = random_vectors(3, 4);
    queries[1] = None;
    queries[2] = passages[10].clone();
    let ctx = new_context().unwrap();
    // Passages in three partitions of a memory table, in order.
    let batch = vector_batch("p", &passages);
    let parts = [0..15, 15..30, 30..40]
        .map(|range| vec![batch.slice(range.start, range.end - range.start)]);
    ctx.register_table(
        "passages",
        Arc::new(MemTable::try_new(batch.schema(), parts.to_vec()).unwrap()),
    )
    .unwrap();
    ctx.register_batch("queries", vector_batch("q", &queries))
        .unwrap();
    let rows = positional_rows(
        &ctx.sql("SELECT * FROM top_k('passages', 'embedding', 'queries', 'embedding', 40)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    // Null and zero passages never come back; the null query gets no rows.
    assert_eq!(rows.len(), 2 * 38);
    assert!(
        rows.iter()
            .all(|row| row.1 != 5 && row.1 != 6 && row.0 != 1)
    );
    // The query equal to passages 10 and 20 finds both at score 1, the earlier first.
    let tied: Vec<_> = rows.iter().filter(|row| row.0 == 2).take(2).collect();
    assert_eq!((tied[0].1, tied[1].1), (10, 20));
    assert!((tied[0].3 - 1.0).abs() < 1e-6 && (tied[1].3 - 1.0).abs() < 1e-6);
    let found: Vec<(u64, u64)> = rows.iter().map(|row| (row.0, row.1)).collect();
    let wanted: Vec<(u64, u64)> = brute_force(&queries, &passages, 40)
        .into_iter()
        .map(|(query, passage, _)| (query as u64, passage as u64))
        .collect();
    assert_eq!(found, wanted);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_name_the_argument_column_or_source() {
    let files = files(20, 3).await;
    let ctx = new_context().unwrap();
    let error = |sql: String| {
        let ctx = ctx.clone();
        async move {
            match ctx.sql(&sql).await {
                Ok(frame) => frame.collect().await.unwrap_err().to_string(),
                Err(error) => error.to_string(),
            }
        }
    };
    // A call over the two files with the passages' vector column and k given.
    let call = |passage_vector: &str, k: i64| {
        format!(
            "SELECT * FROM top_k('{}', '{passage_vector}', '{}', 'embedding', {k})",
            files.passages, files.queries
        )
    };
    let message = error(call("vector", 3)).await;
    assert!(
        message.contains("no column 'vector'") && message.contains("passages.parquet"),
        "{message}"
    );
    let message = error("SELECT * FROM top_k('nowhere.parquet', 'e', 'q', 'e', 3)".into()).await;
    assert!(message.contains("'nowhere.parquet'"), "{message}");
    let message = error(call("embedding", 0)).await;
    assert!(
        message.contains("k must be a positive whole number"),
        "{message}"
    );
    let message = error(call("id", 3)).await;
    assert!(
        message.contains("passages column 'id'") && message.contains("expected a vector"),
        "{message}"
    );
    ctx.sql("CREATE TABLE short AS SELECT 'x' AS id, [1.0, 2.0] AS embedding")
        .await
        .unwrap();
    let message = error(format!(
        "SELECT * FROM top_k('short', 'embedding', '{}', 'embedding', 3)",
        files.queries
    ))
    .await;
    assert!(
        message.contains("a vector of 2 values where 12 were expected"),
        "{message}"
    );
}
