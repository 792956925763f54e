//! Seed workload 3 (an embedding service, BENCHMARKS.md) for `embed` with all-MiniLM-L6-v2 on the CPU. A plain harness (each
//! figure is a median of a few runs of many texts; criterion's sampling does not suit runs
//! of seconds):
//!
//! 1. texts/s of the encoder for 500- and 2,000-character texts at batch sizes 1, 8, 32,
//!    64 and 128, and for a mixed-length corpus (generated documents of 20 to 4,000
//!    characters), with the padding a padded batch would have carried, in input order and
//!    sorted by length (packed sequences carry none); each figure for the two ways of
//!    spending the cores: one instance per core with one thread each (the `embed` node's
//!    default) and one instance with every core, both in the CPU's fastest arithmetic
//!    (bf16 products with AVX-512 BF16), and once more per core in fp32 where that differs;
//! 2. the stateful effect: the model loaded for every batch versus once per partition, in
//!    a pipeline.
//!
//! It also writes the texts it used to `$NODEFUSION_BENCH_DIR` (default
//! `/tmp/nodefusion-bench`) as `embed_<set>.json`, so that `benches/embed/compare.sh` runs
//! Python sentence-transformers on exactly the same texts, and prints its figures as JSON
//! lines (`{"system": "nodefusion", ...}`) after the table.
//!
//! `cargo bench --bench embed` (`-- quick` for fewer texts and one run per figure;
//! `-- profile SET [ARITHMETIC]` for one set under a profiler, see [`profile`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use nodefusion::datagen::{SplitMix64, docs_batch, text_of_length};
use nodefusion::{Input, Node, Pipeline, new_context};
use nodefusion_function::{FunctionMeta, InitOptions, StatefulFunction, UserFunction};
use nodefusion_model::{Arithmetic, DEFAULT_MODEL, SentenceEncoder, resolve};
use nodefusion_udfs::embedding::Embed;

/// The allocator of the `nodefusion` binary, so the figures are the ones it gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn quick() -> bool {
    std::env::args().any(|arg| arg == "quick")
}

fn runs() -> usize {
    if quick() { 1 } else { 3 }
}

fn bench_dir() -> PathBuf {
    std::env::var_os("NODEFUSION_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("nodefusion-bench"))
}

/// The text sets: `count` texts of one length each, and generated documents of mixed length.
fn text_sets() -> Vec<(&'static str, Vec<String>)> {
    let count = if quick() { 64 } else { 256 };
    let mut rng = SplitMix64::new(7);
    let fixed = |rng: &mut SplitMix64, length| {
        (0..count)
            .map(|_| text_of_length(rng, length))
            .collect::<Vec<_>>()
    };
    let chars_500 = fixed(&mut rng, 500);
    let chars_2000 = fixed(&mut rng, 2000);
    let documents = docs_batch(&mut SplitMix64::new(42), 0, count * 2, None).unwrap();
    let mixed = documents
        .column_by_name("text")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .iter()
        .flatten()
        .take(count)
        .map(str::to_string)
        .collect();
    vec![
        ("500_chars", chars_500),
        ("2000_chars", chars_2000),
        ("mixed", mixed),
    ]
}

/// The median over `runs()` of the seconds `work` takes.
fn median_seconds(mut work: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs())
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Padded tokens over real tokens for batches of `batch_size` in the order given.
fn padding_ratio(lengths: &[usize], batch_size: usize) -> f64 {
    let real: usize = lengths.iter().sum();
    let padded: usize = lengths
        .chunks(batch_size)
        .map(|batch| batch.iter().max().unwrap_or(&0) * batch.len())
        .sum();
    padded as f64 / real as f64
}

/// Encodes `texts` in batches of `batch_size`, the batches dealt out in turn to the
/// `encoders`, each running on its own thread (as the partitions of a pipeline do).
fn encode_all(encoders: &[SentenceEncoder], texts: &[&str], batch_size: usize) {
    let batches: Vec<&[&str]> = texts.chunks(batch_size).collect();
    std::thread::scope(|scope| {
        for (index, encoder) in encoders.iter().enumerate() {
            let batches = &batches;
            scope.spawn(move || {
                for batch in batches.iter().skip(index).step_by(encoders.len()) {
                    std::hint::black_box(encoder.encode(batch).unwrap());
                }
            });
        }
    });
}

/// The two ways of spending the cores: one instance per core with one thread each (what
/// the `embed` node does by default), and one instance with every core; both in the
/// fastest arithmetic of the CPU (the node's `precision = "auto"`), and the first also in
/// every other arithmetic the CPU has (`precision = "int16"`, `"fp32"`), named
/// `nodefusion-<arithmetic>`.
fn configurations(cores: usize) -> Vec<(String, Vec<SentenceEncoder>)> {
    let model = resolve(DEFAULT_MODEL).unwrap();
    let load = |threads, arithmetic| SentenceEncoder::load(&model, threads, arithmetic).unwrap();
    let fastest = Arithmetic::fastest();
    let mut configurations = vec![
        (
            "nodefusion".to_string(),
            (0..cores).map(|_| load(1, fastest)).collect(),
        ),
        (
            "nodefusion-1-instance".to_string(),
            vec![load(cores, fastest)],
        ),
    ];
    for arithmetic in Arithmetic::ALL {
        if arithmetic != fastest && arithmetic.supported() {
            configurations.push((
                format!("nodefusion-{arithmetic}"),
                (0..cores).map(|_| load(1, arithmetic)).collect(),
            ));
        }
    }
    configurations
}

fn throughput(cores: usize, results: &mut Vec<String>) {
    let configurations = configurations(cores);
    println!(
        "embed throughput (texts/s), all-MiniLM-L6-v2, packed sequences, {} products; \
         {cores} instances x 1 thread vs 1 instance x {cores} threads (then the other \
         arithmetics per core)",
        Arithmetic::fastest()
    );
    let others: String = configurations[2..]
        .iter()
        .map(|(system, _)| format!(" {:>16}", system.trim_start_matches("nodefusion-")))
        .collect();
    println!(
        "{:<12} {:>6} {:>14} {:>14}{others} {:>12}",
        "texts", "batch", "per core", "one instance", "tokens/s"
    );
    let encoder = &configurations[0].1[0];
    for (set, texts) in text_sets() {
        std::fs::create_dir_all(bench_dir()).unwrap();
        let file = bench_dir().join(format!("embed_{set}.json"));
        std::fs::write(&file, serde_json::to_string(&texts).unwrap()).unwrap();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let lengths: Vec<usize> = encoder
            .tokenize(&refs)
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect();
        let tokens: usize = lengths.iter().sum();
        for (_, encoders) in &configurations {
            encode_all(encoders, &refs[..8], 4);
        }
        let batch_sizes: &[usize] = if set == "mixed" {
            &[32]
        } else {
            &[1, 8, 32, 64, 128]
        };
        for &batch_size in batch_sizes {
            let mut rates = Vec::new();
            for (system, encoders) in &configurations {
                let seconds = median_seconds(|| encode_all(encoders, &refs, batch_size));
                let texts_per_second = texts.len() as f64 / seconds;
                rates.push(texts_per_second);
                results.push(format!(
                    r#"{{"system": "{system}", "texts": "{set}", "batch_size": {batch_size}, "texts_per_second": {texts_per_second:.2}}}"#
                ));
            }
            let others: String = rates[2..]
                .iter()
                .map(|rate| format!(" {rate:>16.1}"))
                .collect();
            println!(
                "{set:<12} {batch_size:>6} {:>14.1} {:>14.1}{others} {:>12.0}",
                rates[0],
                rates[1],
                rates[0] * tokens as f64 / texts.len() as f64
            );
        }
        if set == "mixed" {
            let mut sorted = lengths.clone();
            sorted.sort_unstable();
            println!(
                "  padding a padded batch of 32 would carry (padded/real tokens): in input \
                 order {:.2}, sorted by length {:.2}; packed: 1.00",
                padding_ratio(&lengths, 32),
                padding_ratio(&sorted, 32)
            );
        }
    }
}

fn texts_input(texts: &[String]) -> Input {
    let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]));
    let column: ArrayRef = Arc::new(StringArray::from_iter_values(texts));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![column]).unwrap();
    Input::batches(schema, vec![batch])
}

/// The model loaded for every batch (a plain vectorized function) versus once per
/// partition (the stateful `embed` node), 32 rows per batch.
async fn stateful_effect() {
    let texts: Vec<String> = {
        let mut rng = SplitMix64::new(11);
        (0..if quick() { 128 } else { 512 })
            .map(|_| text_of_length(&mut rng, 100))
            .collect()
    };
    let input = texts_input(&texts);
    let vector_type = Embed::new().return_type(&[DataType::Utf8]).unwrap();
    let load_per_batch = UserFunction::vectorized(
        "embed_loading_per_batch",
        vec![DataType::Utf8],
        vector_type,
        |args| Embed::new().init(&InitOptions::default())?.process(args),
    )
    .into_udf();
    let ctx = new_context().unwrap();
    let mut seconds = Vec::new();
    for node in [
        Node::udf("vector", load_per_batch),
        Node::function("vector", "embed"),
    ] {
        let pipeline = Pipeline::new("embed")
            .node(node.inputs(["text"]).batch_size(32))
            .partitions(1);
        let compiled = pipeline.compile(&ctx, &input).await.unwrap();
        let started = Instant::now();
        std::hint::black_box(compiled.collect().await.unwrap());
        seconds.push(started.elapsed().as_secs_f64());
    }
    println!(
        "stateful: {} texts of 100 chars, batch 32: model loaded per batch {:.2} s, once per \
         partition {:.2} s: {:.1}x",
        texts.len(),
        seconds[0],
        seconds[1],
        seconds[0] / seconds[1]
    );
}

/// `-- profile SET [ARITHMETIC]`: only the texts of `SET` (`500_chars`, `2000_chars`,
/// `mixed`), in batches of 64 on one instance per core (in the fastest arithmetic, or the one
/// named: `fp32`, `bf16`, `int16`), for about
/// 20 seconds, to run under a profiler
/// (`perf record`); prints the texts and tokens per second and the dense products'
/// arithmetic rate at that pace.
fn profile(cores: usize, set: &str, arithmetic: Arithmetic) {
    let (_, texts) = text_sets()
        .into_iter()
        .find(|(name, _)| *name == set)
        .unwrap_or_else(|| panic!("no text set {set}"));
    let model = resolve(DEFAULT_MODEL).unwrap();
    let encoders: Vec<SentenceEncoder> = (0..cores)
        .map(|_| SentenceEncoder::load(&model, 1, arithmetic).unwrap())
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: usize = encoders[0]
        .tokenize(&refs)
        .unwrap()
        .iter()
        .map(Vec::len)
        .sum();
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed().as_secs_f64() < 20.0 {
        encode_all(&encoders, &refs, 64);
        rounds += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let tokens_per_second = (tokens * rounds) as f64 / seconds;
    // all-MiniLM-L6-v2: 6 layers of 384 x (1152 + 384 + 1536) + 1536 x 384 multiply-adds
    // per token in the dense layers.
    let dense_flops_per_token = 2.0 * 6.0 * (384.0 * (1152.0 + 384.0 + 1536.0) + 1536.0 * 384.0);
    println!(
        "profile {set} ({arithmetic}): {:.1} texts/s, {tokens_per_second:.0} tokens/s \
         ({:.0} tokens a text); dense products at this pace: {:.1} GFLOP/s",
        (texts.len() * rounds) as f64 / seconds,
        tokens as f64 / texts.len() as f64,
        tokens_per_second * dense_flops_per_token / 1e9
    );
}

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let arguments: Vec<String> = std::env::args().collect();
    if let Some(position) = arguments.iter().position(|arg| arg == "profile") {
        let set = arguments
            .get(position + 1)
            .map_or("500_chars", String::as_str);
        let arithmetic = arguments
            .get(position + 2)
            .map_or_else(Arithmetic::fastest, |word| word.parse().unwrap());
        profile(cores, set, arithmetic);
        return;
    }
    let started = Instant::now();
    SentenceEncoder::load(
        &resolve(DEFAULT_MODEL).unwrap(),
        cores,
        Arithmetic::fastest(),
    )
    .unwrap();
    println!(
        "model loaded in {:.2} s; {cores} cores",
        started.elapsed().as_secs_f64(),
    );
    let mut results = Vec::new();
    throughput(cores, &mut results);
    stateful_effect().await;
    for line in results {
        println!("{line}");
    }
}
