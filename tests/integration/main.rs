//! The integration tests, as one test binary (every binary links DataFusion and candle
//! again): the command line, pipelines, node kinds (isolated ones, as Python's, too),
//! outputs, interrupted runs, SQL logic tests, example queries, embeddings, the embedding
//! server, retrieval and object storage.
//! `cargo test NAME` runs the tests whose path names NAME, e.g. `cargo test cli::` for the
//! command line.

mod bad_input;
mod cli;
mod cluster;
mod cluster_storage;
mod embed;
mod interrupt;
mod isolated;
mod llm;
mod nodes;
mod output;
mod pipeline;
mod queries;
mod serve;
mod sql_logic;
mod storage;
mod support;
mod top_k;
