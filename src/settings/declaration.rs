//! The node settings, declared once: each setting's name, value type, the type it has once
//! every layer is applied, its built-in value, its check and its documentation. Everything
//! else is generated from this list by a macro given to [`with_node_settings!`]: the
//! [`NodeSettings`](super::NodeSettings) layer and the [`RunSettings`](super::RunSettings)
//! a node runs with, the `[defaults]` and `[[nodes]]` keys of pipeline files, `--set`, the
//! `SET nodefusion.*` session options, the `Node` and `Pipeline` builder methods, the list
//! of valid keys in errors and the settings table of the README.
//!
//! Adding a setting is one entry here, plus the behaviour that reads it.

/// Calls `$callback! { [context] entries... }` with every node setting. Each entry reads
/// `name: ValueType => ResolvedType = built-in value, check, "default as documented",
/// "what it does";`. A setting whose resolved type is an `Option` has no built-in value:
/// unset, the behaviour decides (one instance per partition, threads shared out).
macro_rules! with_node_settings {
    ($callback:ident! $($context:tt)*) => {
        $callback! { [$($context)*]
            batch_size: $crate::settings::BatchSize => $crate::settings::BatchSize
                = $crate::settings::BatchSize::Rows($crate::settings::DEFAULT_BATCH_SIZE), rows_per_batch,
                "8192, or the function's own (embed: 256)",
                "Rows per call: the function sees exactly this many (the last batch may be shorter); `auto`: a stateful or Python node picks its call size, 8 to 1024 rows, by the throughput it measures while it runs (other nodes take their default)";
            max_concurrency: usize => Option<usize> = None, at_least_one,
                "stateful and Python: one instance per partition; async (Python too): 16",
                "Stateful and Python nodes: instances alive at once across partitions (worker \
                 processes under `isolation = \"process\"`); async, and async Python functions: \
                 calls in flight (on a cluster: per executor)";
            on_error: $crate::settings::OnError => $crate::settings::OnError
                = $crate::settings::OnError::Fail, any,
                "fail",
                "`fail`: the run fails naming node, function and input row; `null`: the row gets a null and is counted in `failed_rows`";
            timeout_ms: u64 => u64 = 30_000, at_least_one,
                "30000",
                "Async (Python too): the most time one call may take, in milliseconds";
            max_retries: u32 => u32 = 3, any,
                "3",
                "Async: how often a failed call is tried again (async Python: a call that timed out or raised `OSError`)";
            cache: $crate::settings::CacheMode => $crate::settings::CacheMode
                = $crate::settings::CacheMode::Auto, any,
                "auto",
                "The result cache on disk (`NODEFUSION_CACHE`, default `~/.cache/nodefusion`): `auto` reads and writes results of deterministic remote calls (`llm` at temperature 0 or with a seed, `embed_remote`), `off`, `read`, `readwrite` (every result: `embed`'s too); identical calls in flight are sent once";
            budget_usd: $crate::settings::Usd => Option<$crate::settings::Usd> = None, any,
                "none",
                "Remote calls: once the node's cost (from the provider's prices) reaches this many dollars, its further calls fail, or give nulls under `on_error = \"null\"`, saying so";
            max_tokens_total: u64 => Option<u64> = None, at_least_one,
                "none",
                "Remote calls: the same for the node's input and output tokens";
            precision: $crate::settings::Precision => $crate::settings::Precision
                = $crate::settings::Precision::Auto, any,
                "auto",
                "Stateful: `auto` computes in the fastest arithmetic the CPU has that keeps results within the accuracy bar (`embed`: bf16 products where the CPU has AVX-512 BF16, else int16 products where it has AVX-512 VNNI, vectors within a cosine of 0.999 of fp32's); or the one named: `fp32` (f32 throughout), `bf16`, `int16` (an error when the node starts on a CPU without it)";
            threads: usize => Option<usize> = None, at_least_one,
                "the cores shared out among the instances",
                "Stateful: the threads each instance computes with (`embed`: its matrix products and attention)";
            isolation: $crate::settings::Isolation => $crate::settings::Isolation
                = $crate::settings::Isolation::Thread, any,
                "thread",
                "Python nodes: `thread` runs each instance on a thread of its own in this process (for code that waits or releases the GIL); `process` in a worker process of its own (`python -m nodefusion.worker`, sent only the columns the node reads, as Arrow IPC): CPU-bound Python across cores";
        }
    };
}

pub(crate) use with_node_settings;
