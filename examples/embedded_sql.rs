//! nodefusion's functions in your own DataFusion `SessionContext`: one call registers them
//! all, then they work in any query.
//!
//! ```text
//! cargo run --example embedded_sql
//! ```

use datafusion::prelude::SessionContext;

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let ctx = SessionContext::new();
    nodefusion_udfs::register_all(&ctx)?;

    ctx.sql(
        "CREATE TABLE notes AS VALUES \
         (1, 'Hello, World!  Arrow is fast.', [1.0, 0.0]), \
         (2, 'DataFusion: SQL on Arrow…', [0.6, 0.8])",
    )
    .await?
    .collect()
    .await?;

    ctx.sql(
        "SELECT column1 AS id, \
                normalize_text(column2) AS clean, \
                word_count(column2) AS words, \
                chunk_text(column2, 12, 0) AS chunks, \
                cosine_similarity(column3, [1.0, 0.0]) AS similarity \
         FROM notes ORDER BY id",
    )
    .await?
    .show()
    .await
}
