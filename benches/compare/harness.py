"""The comparison harness behind benches/compare/run.sh (which builds nodefusion and passes
the paths): every seed workload (BENCHMARKS.md lists them) on nodefusion and on the Python
peers that can
express it, from the same generated inputs, in one run.

For each workload it starts one long-lived process per system (`nodefusion_runner`, or
`peers.py SYSTEM` in the virtual environment), then per case: a warm-up request to every
system, then `--repeats` rounds in which the systems take turns, the order rotating from
round to round so that machine drift hits all of them alike. Peak memory is the process's
high-water mark (VmHWM, reset through /proc/PID/clear_refs before the case). An answer
counts only when its row count and checksum equal nodefusion's (text: the Parquet file it
wrote, read back here; embed: the first vector within cosine 0.999). A system whose warm-up
takes longer than the workload's budget (seconds a run) skips that case, and so does one
whose time at the case before, scaled by size, projects past it; nodefusion, the
reference, runs every case.

Results go to benches/results/<workload>.json; BENCHMARKS.md and the charts are then
regenerated from every results file there (report.py).
"""

import argparse
import hashlib
import json
import math
import os
import platform
import select
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

import report
import s3

ROOT = Path(__file__).resolve().parents[2]
PEERS = Path(__file__).resolve().parent / "peers.py"
NODEFUSION = "nodefusion"
NODEFUSION_SQL = "nodefusion-sql"  # the overhead chain written as SQL expression nodes
NODEFUSION_COMPILED = "nodefusion-compiled"  # the overhead chain compiled once, run again
NODEFUSION_PLANNED = "nodefusion-planned"  # the overhead chain under a new name: planned each run
TEXT_BUILTINS_PIPELINE = ROOT / "pipelines" / "text_builtins.toml"
REPLY_TIMEOUT_SECONDS = 900
QUICK_BUDGET = 10.0


@dataclass
class Workload:
    name: str
    title: str
    what: str
    systems: list
    cases: callable  # (quick, inputs) -> list of requests
    label: callable  # request -> text
    size: callable  # request -> the work it asks for, to project one case's time from
    # another; None where times do not scale with it (calls in flight saturate)
    unit: str  # what the rate counts: rows or texts
    chart: dict = field(default_factory=dict)
    budget: float = 20.0  # seconds a run may take in full mode (quick: QUICK_BUDGET)
    python: bool = False  # nodefusion is its Python package (peers.py), not the runner


def docs_path(inputs, rows):
    return str(inputs.docs(rows))


def overhead_cases(quick, inputs):
    if quick:
        shapes = [(3, 100), (3, 10_000), (10, 1_000)]
    else:
        shapes = [
            (nodes, rows)
            for nodes in (3, 5, 10)
            for rows in (10, 1_000, 100_000, 1_000_000)
        ]
    return [{"workload": "overhead", "nodes": n, "rows": r} for n, r in shapes]


def text_cases(quick, inputs):
    return [
        {"workload": "text", "input": docs_path(inputs, rows), "rows": rows}
        for rows in ([5_000] if quick else [100_000, 1_000_000])
    ]


def builtins_cases(quick, inputs):
    return [
        {"workload": "builtins", "input": str(inputs.docs(rows, characters=200)), "rows": rows}
        for rows in ([20_000] if quick else [100_000, 1_000_000])
    ]


def text_builtins_cases(quick, inputs):
    # nodefusion: the `nodefusion` command running the pipeline file, the whole process timed.
    return [
        {**case, "workload": "text_builtins", "nodefusion": inputs.nodefusion,
         "pipeline": str(TEXT_BUILTINS_PIPELINE)}
        for case in builtins_cases(quick, inputs)
    ]


def stateful_cases(quick, inputs):
    return [
        {"workload": "stateful", "mode": mode, "rows": rows, "batch_size": 1024}
        for rows in ([5_000] if quick else [5_000, 50_000])
        for mode in ("per_batch", "per_partition")
    ]


def batch_size_cases(quick, inputs):
    rows = 5_000 if quick else 50_000
    sizes = [128, 2048] if quick else [128, 512, 1024, 2048, 4096]
    return [
        {"workload": "batch_size", "input": docs_path(inputs, rows), "rows": rows, "batch_size": b}
        for b in sizes
    ]


def io_cases(quick, inputs):
    # 2,000 rows one at a time would only sleep 20 s a run: 200 rows show the same.
    shapes = [(200, 4), (200, 64)] if quick else [(200, 1)] + [
        (rows, concurrency) for rows in (200, 2_000) for concurrency in (4, 16, 64)
    ]
    return [
        {"workload": "io", "url": inputs.service_url, "rows": r, "concurrency": c}
        for r, c in shapes
    ]


def py_overhead_cases(quick, inputs):
    shapes = [(3, 100), (10, 1_000)] if quick else [
        (nodes, rows) for nodes in (3, 5, 10) for rows in (100, 1_000)
    ]
    return [{"workload": "py_overhead", "nodes": n, "rows": r} for n, r in shapes]


def py_batch_cases(quick, inputs):
    rows = 100_000 if quick else 1_000_000
    return [{"workload": "py_batch", "input": str(inputs.docs(rows, characters=50)), "rows": rows}]


def py_stateful_cases(quick, inputs):
    return [{"workload": "py_stateful", "rows": 5_000 if quick else 50_000, "batch_size": 1024}]


def py_cpu_cases(quick, inputs):
    rows = 1_000 if quick else 4_000
    return [
        {"workload": "py_cpu", "rows": rows, "partitions": partitions, "batch_size": 100}
        for partitions in (1, 2)
    ]


def cluster_cases(quick, inputs):
    docs = docs_path(inputs, 100_000 if quick else 1_000_000)
    rows = 100_000 if quick else 1_000_000
    texts = 256 if quick else 1024
    # Row groups of an eighth of the texts, so that the four parts are four ranges of them.
    embed_input = inputs.texts(500, texts, group_rows=texts // 8)
    on_s3 = {"storage": "s3"}
    text = {"workload": "cluster", "job": "text", "rows": rows, **on_s3,
            "input": inputs.uploaded(docs)}
    embed = {"workload": "cluster", "job": "embed", "texts": "500 chars", "rows": texts,
             "batch_size": 32, **on_s3, "input": inputs.uploaded(embed_input)}
    # The same jobs with a local output: on a cluster the rows come back to the client.
    cases = [text, embed, {**text, "storage": "local", "input": docs}]
    if not quick:
        # Recovery where the nodes are the work: an executor lost 2 s into `embed`.
        cases.append({**embed, "kill_after": 2.0})
    return cases


def cluster_label(request):
    killed = f", an executor killed {request['kill_after']:g} s in" if "kill_after" in request else ""
    storage = (", input and output on S3" if request["storage"] == "s3"
               else ", local input and output")
    if request["job"] == "embed":
        return (f"embed, {request['rows']:,} texts of 500 chars, batch {request['batch_size']}"
                f"{storage}{killed}")
    return f"text, {request['rows']:,} documents{storage}{killed}"


def embed_cases(quick, inputs):
    if quick:
        shapes = [("500 chars", 500, 8), ("500 chars", 500, 32)]
    else:
        shapes = [("500 chars", 500, batch) for batch in (1, 8, 32, 128)]
        shapes += [("2,000 chars", 2000, batch) for batch in (8, 128)] + [("mixed", None, 32)]
    # At least two batches at every batch size, so that every core has one.
    count = 64 if quick else 256
    return [
        {"workload": "embed", "texts": name, "chars": length, "input": inputs.texts(length, count),
         "rows": count, "batch_size": batch}
        for name, length, batch in shapes
    ]


WORKLOADS = [
    Workload(
        "overhead", "Pipeline overhead (seed workload 5)",
        "Chains of 3, 5 and 10 trivial nodes (add 1, multiply by 2, pass through, in turn) "
        "over the integers 0..rows, in memory: nodefusion with row-wise Rust closures as "
        "nodes, the pipeline built, compiled and run each time (compiling finds the plan kept "
        "from the first time: `src/plan_cache.rs`), (nodefusion-planned) the same under a new "
        "pipeline name each time, so that every compile plans it, (nodefusion-compiled) "
        "compiled once and run again on the input (`run_batches`), and (nodefusion-sql) with "
        "SQL expression nodes, built and compiled each time; "
        "hypernodes with one Python "
        "function per node, mapped over the items; Daft with native expressions and with row-wise Python function UDFs; DuckDB and "
        "DataFusion (Python) with the chain as one SQL expression.",
        [NODEFUSION, NODEFUSION_PLANNED, NODEFUSION_COMPILED, NODEFUSION_SQL, "duckdb", "datafusion-python", "daft",
         "daft-udf",
         "hypernodes-seq", "hypernodes-dask", "hypernodes-daft"],
        overhead_cases, lambda r: f"{r['nodes']} nodes, {r['rows']:,} rows",
        lambda r: r["rows"] * r["nodes"], "rows",
        {"kind": "lines", "x": "rows", "panel": "nodes", "y": "seconds"},
    ),
    Workload(
        "text", "Text pipeline, Parquet to Parquet",
        "normalize (NFKC, lowercase, punctuation and whitespace folded) -> word count -> "
        "`is_short = words < 50` over generated documents (`nodefusion gen-docs --seed 42`, "
        "20 to 4,000 characters), read from Parquet and written to Parquet; every output is "
        "read back here and must match nodefusion's row for row.",
        [NODEFUSION, "duckdb", "datafusion-python", "daft", "daft-udf", "hypernodes-seq",
         "hypernodes-dask"],
        text_cases, lambda r: f"{r['rows']:,} documents", lambda r: r["rows"], "rows",
        {"kind": "bars", "y": "seconds"}, budget=60.0,
    ),
    Workload(
        "builtins", "A pipeline of SQL built-ins, Parquet to Parquet",
        "`clean = regexp_replace(lower(text), '[^a-z0-9 ]', '', 'g')` -> `words` (nodefusion: "
        "`word_count`; the others: their count of `[a-z0-9]+` matches) -> `summary = "
        "concat(CAST(words AS VARCHAR), ' words: ', left(clean, 24))` over generated "
        "200-character sentences (`nodefusion gen-docs --chars 200 --seed 42`), read from "
        "Parquet, `id`, `words` and `summary` written to Parquet; every output is read back "
        "here and must match nodefusion's row for row.",
        [NODEFUSION, "duckdb", "datafusion-python", "daft"],
        builtins_cases, lambda r: f"{r['rows']:,} sentences", lambda r: r["rows"], "rows",
        {"kind": "bars", "y": "seconds"}, budget=60.0,
    ),
    Workload(
        "text_builtins", "A pipeline file of DataFusion's built-ins, run by the command",
        "`pipelines/text_builtins.toml`: `norm = regexp_replace(lower(text), '[^a-z0-9 ]', "
        "'', 'g')` -> `wc` (nodefusion: `word_count`; the others: their count of `[a-z0-9]+` "
        "matches) -> `summary = CAST(wc AS VARCHAR) || '|' || left(norm, 24)` over generated "
        "200-character sentences (`nodefusion gen-docs --chars 200 --seed 42`), read from "
        "Parquet, `id`, `text`, `norm`, `wc` and `summary` written to Parquet, each system "
        "with its default compression. nodefusion is the whole `nodefusion run` process "
        "(start, planning, the run, the commit), its peak memory that process's own; the "
        "others run in their process, the time of the job alone. Every output is read back "
        "here and must match nodefusion's row for row.",
        [NODEFUSION, "duckdb", "datafusion-python", "daft"],
        text_builtins_cases, lambda r: f"{r['rows']:,} sentences", lambda r: r["rows"], "rows",
        {"kind": "bars", "y": "seconds"}, budget=60.0,
    ),
    Workload(
        "stateful", "Stateful resource (seed workload 2)",
        "A resource that takes 0.5 s to set up, applied to 5,000 and 50,000 integers in "
        "batches of 1,024 on 2 workers: set up for every batch (nodefusion: a plain "
        "vectorized function; Daft: a batch function UDF) or once per worker (nodefusion: "
        "a stateful node; Daft: a class UDF).",
        [NODEFUSION, "daft-udf"],
        stateful_cases, lambda r: f"{r['rows']:,} rows, {r['mode'].replace('_', ' ')}",
        lambda r: r["rows"], "rows",
        {"kind": "bars", "y": "seconds"},
    ),
    Workload(
        "batch_size", "Batch size sweep (seed workload 2)",
        "normalize -> word count over generated documents at batch sizes 128 to 4,096: "
        "nodefusion's built-in functions against Daft batch UDFs in Python.",
        [NODEFUSION, "daft-udf"],
        batch_size_cases, lambda r: f"batch {r['batch_size']:,} ({r['rows']:,} documents)",
        lambda r: r["rows"], "rows",
        {"kind": "lines", "x": "batch_size", "panel": "rows", "y": "rate"},
    ),
    Workload(
        "io", "Per-row remote calls (seed workloads 1 and 4)",
        "One HTTP GET per row to a local service that answers after 10 ms (127.0.0.1, "
        "served by nodefusion_runner), at 1 to 64 calls in flight: nodefusion's `http_get` "
        "with max_concurrency; Python thread workers (urllib); a Daft async function UDF "
        "(aiohttp, a semaphore of `concurrency`); hypernodes on Dask threads "
        "(num_workers = concurrency) and sequentially (concurrency 1 only).",
        [NODEFUSION, "python-threads", "daft-udf", "hypernodes-dask", "hypernodes-seq"],
        io_cases, lambda r: f"{r['rows']:,} rows, {r['concurrency']} in flight",
        None, "rows",
        {"kind": "lines", "x": "concurrency", "panel": "rows", "y": "seconds"},
    ),
    Workload(
        "embed", "Embedding with all-MiniLM-L6-v2 (seed workload 3)",
        "Texts cut from generated documents to 500 and 2,000 characters, and a mixed corpus "
        "(20 to 4,000 characters), embedded in batches in input order: nodefusion's `embed` "
        "node (its instances stay loaded between runs, as a service's would); "
        "sentence-transformers on PyTorch CPU, the model loaded once, `encode` per batch; a "
        "Daft class UDF wrapping sentence-transformers (Daft picks the number of instances, "
        "two here, and builds them in every query, so its times include loading the model). "
        "Latency: seconds per batch.",
        [NODEFUSION, "sentence-transformers", "daft-udf"],
        embed_cases, lambda r: f"{r['texts']}, batch {r['batch_size']}",
        lambda r: r["rows"] * (r["chars"] or 1000), "texts",
        {"kind": "lines", "x": "batch_size", "panel": "texts", "y": "rate"}, budget=60.0,
    ),
]


NODEFUSION_KEPT = "nodefusion-kept"  # a Python pipeline built once, run again (instances kept)
PYTHON_NODES = (
    "nodefusion here is its Python package (`pip install ./python`, the release profile), "
    "running the same Python node bodies as the others (benches/compare/python_nodes.py), "
    "the pipeline built and run each time; `nodefusion-kept` runs one pipeline again, which "
    "keeps its Python nodes' instances between runs (a stateful object built once, a "
    "worker's function unpickled once)."
)

WORKLOADS += [
    Workload(
        "py_overhead", "Python nodes: per-row overhead (seed workload 5)",
        "Chains of 3, 5 and 10 trivial row-wise Python nodes (add 1, double, pass through, "
        "in turn) over 100 and 1,000 integers in memory, the pipeline built and run each "
        "time: nodefusion `@node` functions through `Pipeline.map`; hypernodes `@node` "
        "functions through `Pipeline.map` (SeqEngine); Daft `@daft.func` row-wise UDFs. "
        + PYTHON_NODES,
        [NODEFUSION, NODEFUSION_KEPT, "hypernodes-seq", "daft-udf"],
        py_overhead_cases, lambda r: f"{r['nodes']} nodes, {r['rows']:,} items",
        lambda r: r["rows"] * r["nodes"], "rows",
        {"kind": "lines", "x": "rows", "panel": "nodes", "y": "seconds"}, python=True,
    ),
    Workload(
        "py_batch", "Python nodes: a batch node over strings",
        "One batch node, pyarrow's `utf8_upper`, over 1M generated 50-character strings in "
        "memory: nodefusion `@node(batch=True)` (batches of 8,192 on 2 partitions); hypernodes "
        "a `DualNode` (SeqEngine calls its batch function once, on every row); Daft "
        "`@daft.func.batch`. " + PYTHON_NODES,
        [NODEFUSION, NODEFUSION_KEPT, "hypernodes-seq", "daft-udf"],
        py_batch_cases, lambda r: f"{r['rows']:,} strings", lambda r: r["rows"], "rows",
        {"kind": "bars", "y": "seconds"}, python=True,
    ),
    Workload(
        "py_stateful", "Python nodes: a stateful class with a 0.5 s `__init__`",
        "A class whose `__init__` takes 0.5 s, called per batch (doubling its integers) over "
        "50,000 rows in batches of 1,024: nodefusion a `@node` class on 2 partitions (an "
        "instance each, built on threads of their own); hypernodes `@stateful` in a "
        "`DualNode` (one instance, one call on every row); Daft `@daft.cls` with a batch "
        "method (in this process; Daft picks the instances); `python-loop` the same class "
        "in a plain loop, one instance, no engine (the floor of one process). "
        + PYTHON_NODES,
        [NODEFUSION, NODEFUSION_KEPT, "hypernodes-seq", "daft-udf", "python-loop"],
        py_stateful_cases, lambda r: f"{r['rows']:,} rows, batches of {r['batch_size']:,}",
        lambda r: r["rows"], "rows",
        {"kind": "bars", "y": "seconds"}, python=True,
    ),
    Workload(
        "py_cpu", "Python nodes: CPU-bound Python in worker processes",
        "Pure-Python arithmetic of about 0.5 ms a row over 4,000 integers, on 1 and 2 "
        "partitions (or workers) in processes: nodefusion `isolation=\"process\"` (batches "
        "of 100); hypernodes on Dask's process scheduler; Daft `@daft.cls(use_process=True, "
        "max_concurrency=partitions)`; `python-loop` the same function over every row in a "
        "plain loop in one process, no engine (the floor of one process, at either partition "
        "count). " + PYTHON_NODES,
        [NODEFUSION, NODEFUSION_KEPT, "hypernodes-dask", "daft-udf", "python-loop"],
        py_cpu_cases, lambda r: f"{r['rows']:,} rows, {r['partitions']} partitions",
        None, "rows",
        {"kind": "bars", "y": "seconds"}, budget=60.0, python=True,
    ),
]

CLUSTER_1 = "nodefusion-cluster-1"  # a cluster of one executor (2 slots) on this machine
CLUSTER_2 = "nodefusion-cluster-2"  # a cluster of two executors (1 slot each) on this machine

WORKLOADS.append(
    Workload(
        "cluster", "The same jobs on a Ballista cluster on this machine (issues 14 and 31)",
        "The text job (normalize -> word count -> `is_short`, Parquet to Parquet) and `embed` "
        "as a pipeline node, cut into 4 parts, run by nodefusion here (`nodefusion`) and on "
        "a cluster of `nodefusion cluster` processes on 127.0.0.1: one executor of 2 slots, "
        "or two executors of 1 slot (scheduler and executors started by the runner, 1 s "
        "heartbeats, executors taken for dead after 5 s of silence). Input and output on an "
        "S3 server on 127.0.0.1 (moto's, a separate process on the same 2 cores): on a "
        "cluster each executor reads its parts from the bucket and writes their files into "
        "the output's staging, the client commits. With local input and output, the rows "
        "come back to the runner's Parquet sink. Every output is read back and must match "
        "the local run's. Recovery: the first of two executors is killed with SIGKILL 2 s "
        "into `embed` (and replaced after it, outside the time); the local run beside it is "
        "not disturbed. Peak memory is the client's alone.",
        [NODEFUSION, CLUSTER_1, CLUSTER_2],
        cluster_cases, cluster_label, None, "rows",
        {"kind": "bars", "y": "seconds"}, budget=120.0,
    )
)


class Inputs:
    """The generated inputs, made once and shared by every system."""

    def __init__(self, directory, nodefusion, service_url, s3_server):
        self.directory = Path(directory)
        self.nodefusion = nodefusion
        self.service_url = service_url
        self.s3_server = s3_server
        self.directory.mkdir(parents=True, exist_ok=True)

    def docs(self, rows, characters=None):
        """`rows` generated documents, of `characters` each (None: 20 to 4,000)."""
        length = ["--chars", str(characters)] if characters else []
        path = self.directory / f"docs_{rows}{f'_{characters}' if characters else ''}.parquet"
        if not path.exists():
            subprocess.run(
                [self.nodefusion, "gen-docs", "--rows", str(rows), "--seed", "42", *length,
                 "--output", str(path)],
                check=True, stdout=subprocess.DEVNULL,
            )
        return path

    def texts(self, length, count, group_rows=None):
        """`count` texts of `length` characters cut from the documents (None: as they are),
        in row groups of `group_rows` (None: one)."""
        grouped = f"_groups_{group_rows}" if group_rows else ""
        path = self.directory / f"texts_{length or 'mixed'}_{count}{grouped}.parquet"
        if not path.exists():
            texts = [t for t in pq.read_table(self.docs(2_000), columns=["text"])["text"].to_pylist()
                     if t is not None and len(t) >= (length or 0)]
            chosen = [t[:length] if length else t for t in texts[:count]]
            pq.write_table(pa.table({"text": pa.array(chosen, pa.string())}), path,
                           row_group_size=group_rows)
        return str(path)

    def uploaded(self, path):
        """The URL of a copy of `path` in the S3 server's bucket."""
        return self.s3_server.upload(path)


class System:
    """One system's long-lived process, answering one JSON line per request."""

    def __init__(self, name, command):
        self.name = name
        self.failure = None
        # The harness's modules importable by the peers' own worker processes too (Daft's
        # `use_process` workers unpickle the nodes of python_nodes.py).
        path = os.pathsep.join(filter(None, [str(PEERS.parent), os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": path},
        )

    def ask(self, request):
        if self.failure:
            return {"error": self.failure}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], REPLY_TIMEOUT_SECONDS)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.failure = "no answer (the process died or timed out)"
            self.process.kill()
            return {"error": self.failure}
        return json.loads(line)

    def reset_peak_memory(self):
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        except OSError:
            pass

    def peak_memory_mb(self):
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def output_checksum(path):
    """Rows and a checksum of a job's Parquet output, read back from its file(s): every
    column by name, integers as int64 and strings as string whatever each writer chose."""
    if path.startswith("s3://"):
        table = ds.dataset(path.removeprefix("s3://"), filesystem=s3.filesystem()).to_table()
    else:
        table = ds.dataset(path).to_table()
    columns = {}
    for name in sorted(table.column_names):
        column = table[name]
        if pa.types.is_integer(column.type):
            column = column.cast(pa.int64())
        elif pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
            column = column.cast(pa.string())
        columns[name] = column
    table = pa.table(columns)
    # Rows in a known order: a local run's directory output deals its batches among its
    # files (DataFusion's sink), so a directory read back is in no particular order.
    key = next((name for name in ("id", "text") if name in table.column_names), None)
    if key:
        table = table.sort_by(key)
    digest = hashlib.sha256()
    for column in table.columns:
        for value in column.to_pylist():
            digest.update(repr(value).encode())
    return table.num_rows, digest.hexdigest()[:16]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def verified(reply, reference):
    """Why `reply` differs from the reference answer, or None when it agrees."""
    if reply["rows"] != reference["rows"]:
        return f"{reply['rows']} rows, nodefusion {reference['rows']}"
    if "probe" in reply:
        similarity = cosine(reply["probe"], reference["probe"])
        if similarity < 0.999:
            return f"first vector at cosine {similarity:.4f} from nodefusion's"
        return None
    if reply["checksum"] != reference["checksum"]:
        return f"checksum {reply['checksum']}, nodefusion {reference['checksum']}"
    return None


def portable(request):
    """The request as results record it: input files by name, not by this machine's path."""
    paths = ("input", "nodefusion", "pipeline")
    return {key: Path(value).name if key in paths else value
            for key, value in request.items()}


def with_output(request, system, directory):
    if request["workload"] not in ("text", "builtins", "text_builtins", "cluster"):
        return request
    name = f"{request['workload']}_{system}"
    if request.get("storage") == "s3":
        return {**request, "output": s3.output_url(name)}
    return {**request, "output": str(Path(directory) / f"{name}.parquet")}


def complete(reply):
    """Adds rows and checksum to a text job's reply from the file it wrote."""
    if "output" in reply and "error" not in reply:
        reply["rows"], reply["checksum"] = output_checksum(reply["output"])
    return reply


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summarize(replies, unit_rows, memory_mb):
    seconds = [reply["seconds"] for reply in replies]
    median = statistics.median(seconds)
    summary = {
        "status": "ok",
        "seconds": seconds,
        "median": median,
        "min": min(seconds),
        "max": max(seconds),
        "spread": (max(seconds) - min(seconds)) / median if median else 0.0,
        "rate": unit_rows / median if median else None,
        "peak_memory_mb": memory_mb,
        "rows": replies[0]["rows"],
    }
    latencies = [value for reply in replies for value in reply.get("latencies", [])]
    if latencies:
        summary["latency_p50"] = percentile(latencies, 0.50)
        summary["latency_p95"] = percentile(latencies, 0.95)
    return summary


def run_case(workload, request, systems, repeats, last_warm_up, budget, scratch):
    size = workload.size(request) if workload.size else None
    results = {}
    answers = {}
    active = []
    for system in systems:
        # nodefusion is the reference: it runs every case.
        if size and system.name != NODEFUSION and system.name in last_warm_up:
            smaller_size, smaller_seconds = last_warm_up[system.name]
            projected = smaller_seconds * size / smaller_size
            if projected > budget:
                results[system.name] = {
                    "status": "skipped",
                    "reason": f"over the budget of {budget:.0f} s a run "
                    f"(about {projected:.0f} s, projected from the case before)",
                }
                continue
        system.reset_peak_memory()
        warm = complete(system.ask(with_output(request, system.name, scratch)))
        if warm.get("unsupported"):
            results[system.name] = {"status": "skipped", "reason": "cannot express this case"}
        elif "error" in warm:
            results[system.name] = {"status": "error", "reason": warm["error"]}
        else:
            last_warm_up[system.name] = (size, warm["seconds"])
            if warm["seconds"] > budget and system.name != NODEFUSION:
                results[system.name] = {
                    "status": "skipped",
                    "reason": f"over the budget of {budget:.0f} s a run (warm-up {warm['seconds']:.0f} s)",
                }
            else:
                active.append(system)
                answers[system.name] = []
    for round_index in range(repeats):
        shift = round_index % max(1, len(active))
        for system in active[shift:] + active[:shift]:
            reply = complete(system.ask(with_output(request, system.name, scratch)))
            if "error" in reply:
                results[system.name] = {"status": "error", "reason": reply["error"]}
                active.remove(system)
                continue
            answers[system.name].append(reply)
    reference = (answers.get(NODEFUSION) or [None])[0]
    for system in active:
        replies = answers[system.name]
        mismatch = verified(replies[0], reference) if reference else None
        if mismatch:
            results[system.name] = {"status": "wrong answer", "reason": mismatch}
            continue
        # A reply that ran a process of its own (text_builtins) gives that process's peak.
        own_peaks = [reply["peak_memory_mb"] for reply in replies if "peak_memory_mb" in reply]
        memory_mb = max(own_peaks) if own_peaks else system.peak_memory_mb()
        results[system.name] = summarize(replies, request["rows"], memory_mb)
    base = results.get(NODEFUSION, {}).get("median")
    for result in results.values():
        if result.get("status") == "ok" and base:
            result["vs_nodefusion"] = result["median"] / base
    return results


def machine():
    def cpu_model():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
        return platform.processor()

    def memory_gb():
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
        return None

    def version(package):
        from importlib.metadata import PackageNotFoundError, version as installed

        try:
            return installed(package)
        except PackageNotFoundError:
            return None

    def command_output(*command):
        try:
            return subprocess.run(command, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return None

    packages = ["hypernodes", "daft", "dask", "duckdb", "datafusion", "sentence-transformers",
                "torch", "pyarrow", "aiohttp", "nodefusion"]
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "rustc": command_output("rustc", "--version"),
        "nodefusion_commit": command_output("git", "rev-parse", "--short", "HEAD"),
        "packages": {package: version(package) for package in packages},
    }


def peer_command(system):
    """The command of a system peers.py runs."""
    return [sys.executable, str(PEERS), system]


def start_service(runner):
    service = subprocess.Popen([runner, "serve"], stdout=subprocess.PIPE, text=True)
    port = service.stdout.readline().strip()
    return service, f"http://127.0.0.1:{port}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runner", required=True, help="the nodefusion_runner executable")
    parser.add_argument("--nodefusion", required=True, help="the nodefusion executable")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", default=[], help="a workload (repeatable)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", default=str(ROOT / "target" / "compare-data"))
    parser.add_argument("--results", default=str(ROOT / "benches" / "results"))
    arguments = parser.parse_args()
    known = {workload.name for workload in WORKLOADS}
    unknown = [name for name in arguments.only if name not in known]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; the workloads: {', '.join(sorted(known))}")
    if arguments.repeats < 5:
        parser.error("--repeats: at least 5")

    service, service_url = start_service(arguments.runner)
    # The storage cases' server, started before every system so that they inherit its
    # variables.
    s3_server = s3.S3Server() if not arguments.only or "cluster" in arguments.only else None
    inputs = Inputs(arguments.data, arguments.nodefusion, service_url, s3_server)
    scratch = Path(arguments.data) / "out"
    scratch.mkdir(parents=True, exist_ok=True)
    results_dir = Path(arguments.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    about = machine()
    runner_commands = {NODEFUSION: [arguments.runner], NODEFUSION_SQL: [arguments.runner, "sql"],
                       NODEFUSION_COMPILED: [arguments.runner, "compiled"],
                       NODEFUSION_PLANNED: [arguments.runner, "planned"],
                       CLUSTER_1: [arguments.runner, "cluster", arguments.nodefusion, "1", "2"],
                       CLUSTER_2: [arguments.runner, "cluster", arguments.nodefusion, "2", "1"]}
    try:
        for workload in WORKLOADS:
            if arguments.only and workload.name not in arguments.only:
                continue
            started = time.perf_counter()
            systems = [
                System(name, peer_command(name) if workload.python
                       else runner_commands.get(name, peer_command(name)))
                for name in workload.systems
            ]
            last_warm_up = {}
            cases = []
            try:
                for request in workload.cases(arguments.quick, inputs):
                    label = workload.label(request)
                    print(f"{workload.name}: {label}", flush=True)
                    budget = QUICK_BUDGET if arguments.quick else workload.budget
                    results = run_case(workload, request, systems, arguments.repeats,
                                       last_warm_up, budget, scratch)
                    for name, result in results.items():
                        figure = (f"{result['median']:.4f} s" if result["status"] == "ok"
                                  else f"{result['status']}: {result['reason']}")
                        print(f"  {name:<22} {figure}", flush=True)
                    cases.append({"label": label, "request": portable(request),
                                  "results": results})
            finally:
                for system in systems:
                    system.close()
            document = {
                "workload": workload.name, "title": workload.title, "what": workload.what,
                "unit": workload.unit, "chart": workload.chart, "systems": workload.systems,
                "quick": arguments.quick, "repeats": arguments.repeats,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "wall_seconds": round(time.perf_counter() - started, 1),
                "machine": about, "cases": cases,
            }
            path = results_dir / f"{workload.name}.json"
            path.write_text(json.dumps(document, indent=1) + "\n")
            print(f"wrote {path}", flush=True)
    finally:
        service.kill()
        if s3_server:
            s3_server.close()
    report.write(results_dir, ROOT / "BENCHMARKS.md")
    print("wrote BENCHMARKS.md", flush=True)


if __name__ == "__main__":
    main()
