//! Your own stateful and async functions, in a few lines each, used from a pipeline and
//! from SQL with the same node operator:
//!
//! - `category_id(category)`: stateful; its lookup table is built once per partition;
//! - `slow_echo(text)`: async per row, 5 ms per call, up to 8 calls in flight;
//! - `batch_len(text)`: async per batch, one call for a whole batch.
//!
//! ```text
//! cargo run --example custom_nodes
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::pretty::print_batches;
use datafusion::common::utils::take_function_args;
use datafusion::common::{Result, ScalarValue};
use nodefusion::{Input, Node, Pipeline, new_context};
use nodefusion_function::arrays::StringColumn;
use nodefusion_function::{CallError, FunctionInstance, async_per_batch, async_per_row, stateful};

/// The instance: a lookup table, built in `init`.
struct CategoryIds(HashMap<String, i64>);

impl FunctionInstance for CategoryIds {
    fn process(&mut self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let [names] = take_function_args("category_id", args)?;
        let rows = names.len();
        let names = StringColumn::try_new("category_id", names)?;
        let ids: Int64Array = (0..rows)
            .map(|row| names.get(row).and_then(|name| self.0.get(name).copied()))
            .collect();
        Ok(Arc::new(ids))
    }
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let category_id = stateful(
        "category_id",
        vec![DataType::Utf8],
        DataType::Int64,
        |_options| {
            // Expensive set-up goes here: it runs once per partition, on its first batch.
            let names = [
                "business",
                "health",
                "history",
                "music",
                "science",
                "sports",
                "technology",
                "travel",
            ];
            Ok(CategoryIds(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.to_string(), i as i64))
                    .collect(),
            ))
        },
    );
    let slow_echo = async_per_row(
        "slow_echo",
        vec![DataType::Utf8],
        DataType::Utf8,
        |args| async move {
            tokio::time::sleep(Duration::from_millis(5)).await; // an API call
            let [text] = take_function_args("slow_echo", args)?;
            Ok::<ScalarValue, CallError>(text)
        },
    );
    let batch_len = async_per_batch(
        "batch_len",
        vec![DataType::Utf8],
        DataType::Int64,
        |args| async move {
            let [texts] = take_function_args("batch_len", args)?;
            let texts = texts.as_string::<i32>();
            let lengths: Int64Array = texts.iter().map(|t| t.map(|t| t.len() as i64)).collect();
            Ok::<ArrayRef, CallError>(Arc::new(lengths))
        },
    );

    let ctx = new_context()?;
    for udf in [&category_id, &slow_echo, &batch_len] {
        ctx.register_udf(udf.clone());
    }

    // In a pipeline: node settings tune each function.
    let pipeline = Pipeline::new("custom")
        .node(
            Node::udf("cat", category_id)
                .inputs(["category"])
                .max_concurrency(2),
        )
        .node(
            Node::udf("echo", slow_echo)
                .inputs(["title"])
                .max_concurrency(8)
                .batch_size(50),
        )
        .node(Node::udf("len", batch_len).inputs(["echo"]))
        .outputs(["id", "category", "cat", "len"]);
    let compiled = pipeline
        .compile(&ctx, &Input::path("data/docs.parquet"))
        .await?;
    let batches = compiled.collect().await?;
    print_batches(&[batches[0].slice(0, 4)])?;

    // In SQL: the same operator, tuned with session options.
    ctx.sql("SET nodefusion.slow_echo.max_concurrency = 16")
        .await?
        .collect()
        .await?;
    ctx.sql(
        "SELECT category, count(*) AS docs, min(category_id(category)) AS id \
         FROM 'data/docs.parquet' WHERE slow_echo(title) IS NOT NULL GROUP BY category ORDER BY id",
    )
    .await?
    .show()
    .await?;
    Ok(())
}
