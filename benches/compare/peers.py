"""The Python peers of the comparison harness (benches/compare/run.sh).

    python peers.py SYSTEM

reads one JSON request per line on stdin and answers one JSON line on stdout, exactly as
`nodefusion_runner` does (its module doc lists the requests): `{"seconds", "rows",
"checksum"}`, with `"latencies"` and `"probe"` for `embed`, `{"unsupported": true}` where
the system cannot express the workload, `{"error": ...}` when it fails. The timed region is
the work alone (imports, model loads and the process start are outside it), as on our side.

Every system computes the same answer as nodefusion: `normalize` below is `normalize_text`
(NFKC, lowercase, Unicode punctuation P* and whitespace folded into single spaces), the
SQL and expression engines use the regular expression `[\\p{P}\\s]+` for the same fold, and
the harness checks row counts and checksums before it reports a time.

The Python-node workloads (`py_*`, issue 28) are in python_nodes.py, for the systems
`nodefusion` (the Python package), `hypernodes-seq`, `hypernodes-dask` and `daft-udf`.
"""

import asyncio
import inspect
import json
import os
import sys
import time
import unicodedata
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import python_nodes

SETUP_SECONDS = 0.5
CORES = os.cpu_count() or 1
MODEL_DIR = os.path.join(
    os.environ.get("NODEFUSION_MODELS")
    or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nodefusion", "models"
    ),
    "sentence-transformers",
    "all-MiniLM-L6-v2",
)

# Every code point of Unicode's punctuation categories (P*), mapped to a space.
PUNCTUATION = {
    code: " "
    for code in range(sys.maxunicode + 1)
    if unicodedata.category(chr(code)).startswith("P")
}
# The same fold as a regular expression, for the SQL and expression engines.
SEPARATORS = r"[\p{P}\s]+"


def normalize(text):
    if text is None:
        return None
    return " ".join(unicodedata.normalize("NFKC", text).lower().translate(PUNCTUATION).split())


def word_count(text):
    return None if text is None else len(text.split())


def operation(index):
    """Node `index` of the overhead chain: add 1, multiply by 2, pass through, in turn."""
    return [lambda x: x + 1, lambda x: x * 2, lambda x: x][index % 3]


def sql_chain(nodes):
    """The overhead chain as one SQL expression over column x."""
    expression = "x"
    for index in range(nodes):
        expression = [f"({expression} + 1)", f"({expression} * 2)", expression][index % 3]
    return expression


def int_answer(seconds, values):
    values = pa.chunked_array(values) if isinstance(values, list) else values
    total = pc.sum(values).as_py() if len(values) else 0
    return {"seconds": seconds, "rows": len(values), "checksum": str(total or 0)}


def timed(work):
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def docs_text(path):
    return pq.read_table(path, columns=["id", "text"])


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.read())


# ---------------------------------------------------------------------------------------
# hypernodes: per-item pipelines (SeqEngine, DaskEngine, DaftEngine)


def hypernodes_engine(system, concurrency=None):
    if system == "hypernodes-seq":
        from hypernodes import SeqEngine

        return SeqEngine()
    if system == "hypernodes-dask":
        from hypernodes.integrations.dask.engine import DaskEngine

        return DaskEngine(num_workers=concurrency or CORES, workload_type="io" if concurrency else "cpu")
    from hypernodes.engines import DaftEngine

    return DaftEngine()


def hypernode(function, inputs, output):
    """A hypernodes node named by its output, reading the columns `inputs`."""
    from hypernodes import node

    def call(*positional, **named):
        # SeqEngine and DaskEngine pass the inputs by name, DaftEngine by position.
        return function(*positional, *(named[name] for name in inputs if name in named))

    call.__name__ = output
    call.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in inputs]
    )
    return node(output_name=output, cache=False)(call)


def hypernodes_map(system, nodes, inputs, output, concurrency=None):
    from hypernodes import Pipeline

    import dask

    pipeline = Pipeline(nodes=nodes, engine=hypernodes_engine(system, concurrency))
    (name, values), = inputs.items()
    # DaskEngine sizes its partitions by num_workers; Dask's thread pool needs its own setting.
    with dask.config.set(num_workers=concurrency or CORES):
        results = pipeline.map(inputs={name: values}, map_over=name, output_name=output)
    return [result[output] for result in results]


def hypernodes_overhead(system, request):
    nodes = [
        hypernode(operation(index), ["x" if index == 0 else f"v{index - 1}"], f"v{index}")
        for index in range(request["nodes"])
    ]
    last = f"v{request['nodes'] - 1}"
    seconds, values = timed(
        lambda: hypernodes_map(system, nodes, {"x": list(range(request["rows"]))}, last)
    )
    return int_answer(seconds, pa.array(values, pa.int64()))


def hypernodes_text(system, request):
    def job():
        table = docs_text(request["input"])
        nodes = [
            hypernode(normalize, ["text"], "clean"),
            hypernode(word_count, ["clean"], "words"),
            hypernode(lambda words: None if words is None else words < 50, ["words"], "is_short"),
        ]
        from hypernodes import Pipeline

        pipeline = Pipeline(nodes=nodes, engine=hypernodes_engine(system))
        results = pipeline.map(
            inputs={"text": table["text"].to_pylist()},
            map_over="text",
            output_name=["clean", "words", "is_short"],
        )
        output = pa.table(
            {
                "id": table["id"],
                "clean": pa.array([r["clean"] for r in results], pa.string()),
                "words": pa.array([r["words"] for r in results], pa.int64()),
                "is_short": pa.array([r["is_short"] for r in results], pa.bool_()),
            }
        )
        pq.write_table(output, request["output"])
        return output.num_rows

    seconds, rows = timed(job)
    return {"seconds": seconds, "rows": rows, "output": request["output"]}


def hypernodes_io(system, request):
    if system == "hypernodes-seq" and request["concurrency"] != 1:
        return {"unsupported": True}
    urls = [f"{request['url']}/n/{row}" for row in range(request["rows"])]
    nodes = [hypernode(fetch, ["url"], "value")]
    seconds, values = timed(
        lambda: hypernodes_map(system, nodes, {"url": urls}, "value", request["concurrency"])
    )
    return int_answer(seconds, pa.array(values, pa.int64()))


# ---------------------------------------------------------------------------------------
# Daft: native expressions, function UDFs (row-wise and batch), class UDFs, async UDFs


def daft_overhead(system, request):
    import daft

    def job():
        frame = daft.from_pydict({"x": list(range(request["rows"]))})
        previous = "x"
        for index in range(request["nodes"]):
            node = operation(index)
            if system == "daft-udf":
                node = daft.func(node, return_dtype=daft.DataType.int64())
            frame = frame.with_column(f"v{index}", node(daft.col(previous)))
            previous = f"v{index}"
        return frame.select(previous).to_arrow()[previous]

    seconds, values = timed(job)
    return int_answer(seconds, values)


def daft_clean_words(frame, system, batch_size=None):
    """`clean` and `words` columns: native string expressions, or batch UDFs over Python."""
    import daft
    from daft import DataType

    text = daft.col("text")
    if system == "daft":
        clean = text.str.lower().str.replace(SEPARATORS, " ", regex=True).str.lstrip().str.rstrip()
        words = (clean == "").if_else(0, clean.str.split(" ").list.length().cast(DataType.int64()))
        return frame.with_column("clean", clean).with_column("words", words)

    @daft.func.batch(return_dtype=DataType.string(), batch_size=batch_size)
    def clean_batch(texts):
        return [normalize(value) for value in texts.to_pylist()]

    @daft.func.batch(return_dtype=DataType.int64(), batch_size=batch_size)
    def words_batch(cleaned):
        return [word_count(value) for value in cleaned.to_pylist()]

    frame = frame.with_column("clean", clean_batch(text))
    return frame.with_column("words", words_batch(daft.col("clean")))


def daft_text(system, request):
    import daft

    def job():
        frame = daft_clean_words(daft.read_parquet(request["input"]), system)
        frame = frame.with_column("is_short", daft.col("words") < 50)
        frame = frame.select("id", "clean", "words", "is_short")
        frame.write_parquet(request["output"], write_mode="overwrite")

    seconds, _ = timed(job)
    return {"seconds": seconds, "output": request["output"]}


# The workloads of SQL built-ins: `lower` + `regexp_replace` -> a word count -> a summary
# string. `builtins` writes `id`, `words` and a summary made by SQL's `concat` (which skips
# nulls); `text_builtins` (pipelines/text_builtins.toml) writes the text beside every
# column it computes, its summary made by `||` (null in, null out).
BUILTIN_CLEAN = "[^a-z0-9 ]"
BUILTIN_WORD = "[a-z0-9]+"
BUILTIN_SHAPES = {
    "builtins": {
        "clean": "clean", "words": "words", "columns": ["id", "words", "summary"],
        "summary": "concat(CAST(words AS VARCHAR), ' words: ', left(clean, 24))",
    },
    "text_builtins": {
        "clean": "norm", "words": "wc", "columns": ["id", "text", "norm", "wc", "summary"],
        "summary": "CAST(wc AS VARCHAR) || '|' || left(norm, 24)",
    },
}


def daft_summary(workload, words, clean):
    """The summary column of a built-ins workload as Daft expressions."""
    from daft import DataType, lit

    words = words.cast(DataType.string())
    head = clean.str.left(24)
    if workload == "builtins":
        # SQL's concat skips nulls (a null text gives ' words: '); Daft's + gives null.
        return words.fill_null("") + lit(" words: ") + head.fill_null("")
    return words + lit("|") + head


def daft_builtins(system, request):
    import daft
    from daft import DataType

    workload = request["workload"]
    shape = BUILTIN_SHAPES[workload]
    clean, words = daft.col(shape["clean"]), daft.col(shape["words"])

    def job():
        frame = daft.read_parquet(request["input"])
        normalized = daft.col("text").str.lower().str.replace(BUILTIN_CLEAN, "", regex=True)
        frame = frame.with_column(shape["clean"], normalized)
        count = clean.str.extract_all(BUILTIN_WORD).list.length().cast(DataType.int64())
        frame = frame.with_column(shape["words"], count)
        frame = frame.with_column("summary", daft_summary(workload, words, clean))
        frame.select(*shape["columns"]).write_parquet(request["output"], write_mode="overwrite")

    seconds, _ = timed(job)
    return {"seconds": seconds, "output": request["output"]}


def sql_builtins_query(source, word_count, workload):
    """A built-ins workload as SQL over `source`; `word_count(column)` counts its words."""
    shape = BUILTIN_SHAPES[workload]
    clean, words = shape["clean"], shape["words"]
    columns = ", ".join(f"{shape['summary']} AS summary" if column == "summary" else column
                        for column in shape["columns"])
    return (
        f"SELECT {columns} FROM (SELECT id, text, {clean}, {word_count(clean)} AS {words} "
        f"FROM (SELECT id, text, regexp_replace(lower(text), '{BUILTIN_CLEAN}', '', 'g') "
        f"AS {clean} FROM {source}))"
    )


def daft_batch_size(system, request):
    import daft

    def job():
        frame = daft_clean_words(daft.read_parquet(request["input"]), system, request["batch_size"])
        return frame.select("words").to_arrow()["words"]

    seconds, values = timed(job)
    return int_answer(seconds, values)


class Resource:
    """The stateful workload's resource: expensive to set up, cheap to use."""

    def __init__(self):
        time.sleep(SETUP_SECONDS)

    def apply(self, values):
        return values


def daft_stateful(system, request):
    import daft
    from daft import DataType

    batch_size = request["batch_size"]
    if request["mode"] == "per_batch":

        @daft.func.batch(return_dtype=DataType.int64(), batch_size=batch_size)
        def resource(values):
            return Resource().apply(values)

    else:

        # In this process (given max_concurrency, Daft 0.6 moves instances to worker
        # processes); Daft chooses how many instances: one per core.
        @daft.cls(use_process=False)
        class StatefulResource:
            def __init__(self):
                self.resource = Resource()

            @daft.method.batch(return_dtype=DataType.int64(), batch_size=batch_size)
            def __call__(self, values):
                return self.resource.apply(values)

        resource = StatefulResource()

    def job():
        frame = daft.from_pydict({"x": list(range(request["rows"]))})
        return frame.select(resource(daft.col("x")).alias("y")).to_arrow()["y"]

    seconds, values = timed(job)
    return int_answer(seconds, values)


# The limit on calls in flight, one per event loop the async UDF runs on.
IN_FLIGHT_LIMITS = {}


async def fetch_async(url, concurrency):
    import aiohttp

    limit = IN_FLIGHT_LIMITS.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(concurrency))
    async with limit, aiohttp.ClientSession() as session, session.get(url) as response:
        return int(await response.text())


def daft_io(system, request):
    import daft

    concurrency = request["concurrency"]
    IN_FLIGHT_LIMITS.clear()

    @daft.func(return_dtype=daft.DataType.int64())
    async def value(url: str) -> int:
        return await fetch_async(url, concurrency)

    def job():
        urls = [f"{request['url']}/n/{row}" for row in range(request["rows"])]
        frame = daft.from_pydict({"url": urls})
        return frame.select(value(daft.col("url")).alias("v")).to_arrow()["v"]

    seconds, values = timed(job)
    return int_answer(seconds, values)


# ---------------------------------------------------------------------------------------
# SQL engines: DuckDB and DataFusion (Python)


def sql_clean(column):
    return f"trim(regexp_replace(lower({column}), '{SEPARATORS}', ' ', 'g'))"


def sql_words(column):
    return (
        f"CASE WHEN {column} = '' THEN 0 "
        f"ELSE CAST(array_length(string_to_array({column}, ' ')) AS BIGINT) END"
    )


def sql_text_query(source):
    return (
        f"SELECT id, clean, words, words < 50 AS is_short FROM ("
        f"SELECT id, clean, {sql_words('clean')} AS words FROM ("
        f"SELECT id, {sql_clean('text')} AS clean FROM {source}))"
    )


def duckdb_run(system, request):
    import duckdb

    connection = duckdb.connect()
    connection.execute(f"SET threads = {CORES}")
    if request["workload"] == "overhead":
        data = pa.table({"x": pa.array(range(request["rows"]), pa.int64())})
        connection.register("data", data)
        query = f"SELECT {sql_chain(request['nodes'])} AS v FROM data"
        seconds, values = timed(lambda: connection.sql(query).to_arrow_table()["v"])
        return int_answer(seconds, values)
    source = f"read_parquet('{request['input']}')"
    if request["workload"] in BUILTIN_SHAPES:
        def words(column):
            return f"CAST(len(regexp_extract_all({column}, '{BUILTIN_WORD}')) AS BIGINT)"

        query = sql_builtins_query(source, words, request["workload"])
    else:
        query = sql_text_query(source)
    statement = f"COPY ({query}) TO '{request['output']}' (FORMAT parquet)"
    seconds, _ = timed(lambda: connection.execute(statement))
    return {"seconds": seconds, "output": request["output"]}


def datafusion_run(system, request):
    import datafusion

    ctx = datafusion.SessionContext()
    if request["workload"] == "overhead":
        data = pa.table({"x": pa.array(range(request["rows"]), pa.int64())})
        ctx.register_record_batches("data", [data.to_batches()])
        query = f"SELECT {sql_chain(request['nodes'])} AS v FROM data"
        seconds, values = timed(lambda: ctx.sql(query).to_arrow_table()["v"])
        return int_answer(seconds, values)

    def job():
        ctx.register_parquet("docs", request["input"])
        if request["workload"] in BUILTIN_SHAPES:
            def words(column):
                return f"CAST(regexp_count({column}, '{BUILTIN_WORD}') AS BIGINT)"

            query = sql_builtins_query("docs", words, request["workload"])
        else:
            query = sql_text_query("docs")
        ctx.sql(f"COPY ({query}) TO '{request['output']}' STORED AS PARQUET").collect()
        ctx.deregister_table("docs")

    seconds, _ = timed(job)
    return {"seconds": seconds, "output": request["output"]}


# ---------------------------------------------------------------------------------------
# sentence-transformers, alone and in a Daft class UDF


def load_sentence_transformer():
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(CORES)
    return SentenceTransformer(MODEL_DIR, device="cpu")


# The model sentence-transformers keeps loaded between requests, as a service does.
LOADED_MODEL = []


def texts_of(path):
    return pq.read_table(path, columns=["text"])["text"].to_pylist()


def embed_answer(seconds, vectors, latencies):
    return {
        "seconds": seconds,
        "rows": len(vectors),
        "checksum": f"{len(vectors)} x {len(vectors[0])}",
        "latencies": latencies,
        "probe": [float(value) for value in vectors[0]],
    }


def sentence_transformers_embed(system, request):
    if not LOADED_MODEL:
        LOADED_MODEL.append(load_sentence_transformer())
    model = LOADED_MODEL[0]
    texts = texts_of(request["input"])
    batch_size = request["batch_size"]
    latencies = []

    def job():
        vectors = []
        for start in range(0, len(texts), batch_size):
            began = time.perf_counter()
            batch = texts[start : start + batch_size]
            vectors.extend(model.encode(batch, batch_size=len(batch), convert_to_numpy=True))
            latencies.append(time.perf_counter() - began)
        return vectors

    seconds, vectors = timed(job)
    return embed_answer(seconds, vectors, latencies)


def daft_class_embed(system, request):
    import daft
    from daft import DataType

    import sentence_transformers  # noqa: F401  (imported before the clock starts, as elsewhere)

    latencies = []
    batch_size = request["batch_size"]

    # In this process, as StatefulResource.
    @daft.cls(use_process=False)
    class Encoder:
        def __init__(self):
            self.model = load_sentence_transformer()

        @daft.method.batch(
            return_dtype=DataType.embedding(DataType.float32(), 384), batch_size=batch_size
        )
        def __call__(self, texts):
            began = time.perf_counter()
            batch = texts.to_pylist()
            vectors = self.model.encode(batch, batch_size=len(batch), convert_to_numpy=True)
            latencies.append(time.perf_counter() - began)
            return vectors

    encoder = Encoder()

    def job():
        frame = daft.read_parquet(request["input"])
        return frame.select(encoder(daft.col("text")).alias("v")).to_pydict()["v"]

    seconds, vectors = timed(job)
    return embed_answer(seconds, vectors, latencies)


# ---------------------------------------------------------------------------------------
# Plain Python threads (seed workload 4: thread workers)


def threads_io(system, request):
    urls = [f"{request['url']}/n/{row}" for row in range(request["rows"])]

    def job():
        with ThreadPoolExecutor(max_workers=request["concurrency"]) as pool:
            return list(pool.map(fetch, urls))

    seconds, values = timed(job)
    return int_answer(seconds, pa.array(values, pa.int64()))


HYPERNODES = {"overhead": hypernodes_overhead, "text": hypernodes_text, "io": hypernodes_io}
SYSTEMS = {
    "hypernodes-seq": HYPERNODES,
    "hypernodes-dask": HYPERNODES,
    "hypernodes-daft": {"overhead": hypernodes_overhead, "text": hypernodes_text},
    "daft": {
        "overhead": daft_overhead, "text": daft_text, "builtins": daft_builtins,
        "text_builtins": daft_builtins,
    },
    "daft-udf": {
        "overhead": daft_overhead,
        "text": daft_text,
        "batch_size": daft_batch_size,
        "stateful": daft_stateful,
        "io": daft_io,
        "embed": daft_class_embed,
    },
    "duckdb": {
        "overhead": duckdb_run, "text": duckdb_run, "builtins": duckdb_run,
        "text_builtins": duckdb_run,
    },
    "datafusion-python": {
        "overhead": datafusion_run, "text": datafusion_run, "builtins": datafusion_run,
        "text_builtins": datafusion_run,
    },
    "sentence-transformers": {"embed": sentence_transformers_embed},
    "python-threads": {"io": threads_io},
}


def main():
    system = sys.argv[1]
    handlers = {**SYSTEMS.get(system, {}), **python_nodes.handlers(system, hypernode)}
    for line in sys.stdin:
        request = json.loads(line)
        handler = handlers.get(request["workload"])
        try:
            reply = handler(system, request) if handler else {"unsupported": True}
        except Exception as error:  # reported to the harness, which names system and case
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
