//! A `Pipeline` built in code: built-in functions, a row-wise closure and a SQL expression
//! wired by column name, run with your own `SessionContext` over the bundled sample, then
//! run again on new batches without planning again.
//!
//! ```text
//! cargo run --example embedded_pipeline
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::print_batches;
use datafusion::prelude::SessionContext;
use nodefusion::{Input, Node, Pipeline};

fn pipeline() -> Pipeline {
    Pipeline::new("word_stats")
        .node(
            Node::function("clean", "normalize_text")
                .inputs(["text"])
                .output("clean_text"),
        )
        .node(
            Node::function("words", "word_count")
                .inputs(["clean_text"])
                .output("words"),
        )
        .node(
            Node::row_fn("headline", |s: &str| {
                s.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_uppercase()
            })
            .inputs(["clean_text"])
            .output("headline"),
        )
        .node(Node::sql("short", "words < 20").output("is_short"))
        .outputs(["id", "words", "is_short", "headline"])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Your own context: add nodefusion's functions to it.
    let ctx = SessionContext::new();
    nodefusion_udfs::register_all(&ctx)?;

    let compiled = pipeline()
        .compile(&ctx, &Input::path("data/docs.parquet"))
        .await?;
    let batches = compiled.collect().await?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    println!("{rows} rows; the first three:");
    print_batches(&[batches[0].slice(0, 3)])?;

    // The same compiled plan on new input of the same schema: no planning.
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, false),
    ]));
    let small = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(StringArray::from(vec!["Hello, world!", "One more time..."])),
            Arc::new(StringArray::from(vec!["demo", "demo"])),
        ],
    )?;
    let compiled = pipeline()
        .compile(&ctx, &Input::batches(small.schema(), vec![small.clone()]))
        .await?;
    for _ in 0..2 {
        print_batches(&compiled.run_batches(vec![small.clone()]).await?)?;
    }
    Ok(())
}
