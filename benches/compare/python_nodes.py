"""The Python-node workloads of the comparison harness (issue 28): the same node bodies,
written once below, on nodefusion's Python package, hypernodes 0.4.8 and Daft. peers.py
answers their requests for the systems `nodefusion` (in these workloads: the package,
installed in the harness's virtual environment by run.sh), `nodefusion-kept` (the same
pipeline run again, its Python nodes' instances kept between runs), `hypernodes-seq`,
`hypernodes-dask` (`py_cpu`), `daft-udf`, and `python-loop` (`py_stateful`, `py_cpu`: the
same bodies in a plain loop in one process, no engine: the floor of one process).

| workload | the node bodies | nodefusion | hypernodes | Daft |
| --- | --- | --- | --- | --- |
| `py_overhead` | 3, 5, 10 trivial row-wise nodes (add 1, double, pass through) | `@node` functions, `Pipeline.map` | `@node`, `Pipeline.map` (SeqEngine) | `@daft.func` |
| `py_batch` | one batch node over 1M strings (pyarrow's `utf8_upper`) | `@node(batch=True)` | a `DualNode` (SeqEngine: one call) | `@daft.func.batch` |
| `py_stateful` | a class with a 0.5 s `__init__`, 50,000 rows in batches of 1,024 | `@node` class, one instance per partition (2) | `@stateful`, in a `DualNode` (one call) | `@daft.cls`, `@daft.method.batch` |
| `py_cpu` | pure-Python arithmetic, about 1 ms a row, 1 and 2 partitions | `isolation="process"` | DaskEngine, processes | `@daft.cls(use_process=True)` |

Every timed region is the run alone: building the pipeline (or Daft's frame) and running
it over a table already in memory.
"""

import functools
import json
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SETUP_SECONDS = 0.5


# ---------------------------------------------------------------------------------------
# The node bodies


def add_one(x):
    return x + 1


def double(x):
    return x * 2


def same(x):
    return x


ROW_BODIES = [add_one, double, same]


def upper(texts):
    """The batch body: one pyarrow array in, one out."""
    return pc.utf8_upper(texts)


class Slow:
    """The stateful body: 0.5 s to set up, a batch operation to use."""

    def __init__(self):
        time.sleep(SETUP_SECONDS)

    def __call__(self, x):
        return pc.multiply(x, 2)


def busy(n):
    """The CPU-bound body: pure Python, about a millisecond a row."""
    total = n
    for step in range(6_000):
        total = (total * 31 + step) % 1_000_003
    return total


# ---------------------------------------------------------------------------------------
# Inputs and answers


def numbers(rows):
    return pa.table({"x": pa.array(range(rows), pa.int64())})


def strings(path):
    return pq.read_table(path, columns=["text"]).rename_columns(["texts"])


def answer(seconds, values):
    """Rows and a checksum: the sum for integers, the total length for strings."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        checksum = pc.sum(pc.utf8_length(values)).as_py()
    else:
        checksum = pc.sum(values).as_py()
    return {"seconds": seconds, "rows": len(values), "checksum": str(checksum or 0)}


def timed(work):
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


# ---------------------------------------------------------------------------------------
# nodefusion (the Python package)


def nodefusion_pipeline(request):
    """The pipeline of `request`, and the settings of its run."""
    import nodefusion

    workload = request["workload"]
    if workload == "py_overhead":
        nodes = [
            nodefusion.node(ROW_BODIES[index % 3], name=f"v{index}", returns=pa.int64(),
                            inputs=["x" if index == 0 else f"v{index - 1}"])
            for index in range(request["nodes"])
        ]
        return nodefusion.Pipeline(nodes, outputs=[f"v{request['nodes'] - 1}"]), {}
    if workload == "py_batch":
        node = nodefusion.node(upper, name="upper", batch=True, returns=pa.string())
        return nodefusion.Pipeline([node], outputs=["upper"]), {}
    if workload == "py_stateful":
        node = nodefusion.node(Slow, name="y", batch=True, returns=pa.int64())
        return nodefusion.Pipeline([node], outputs=["y"]), {
            "batch_size": request["batch_size"], "partitions": 2,
        }
    node = nodefusion.node(busy, name="y", inputs=["x"], returns=pa.int64(), isolation="process")
    return nodefusion.Pipeline([node], outputs=["y"]), {
        "batch_size": request["batch_size"], "partitions": request["partitions"],
    }


# nodefusion-kept: the pipeline of each case, built once and run again (its Python nodes'
# instances kept between runs: a stateful object built once, a worker's function unpickled
# once).
KEPT = {}


def nodefusion_run(system, request):
    table = strings(request["input"]) if request["workload"] == "py_batch" else numbers(request["rows"])
    case = json.dumps(request, sort_keys=True)
    if system == "nodefusion-kept" and case not in KEPT:
        KEPT[case] = nodefusion_pipeline(request)

    def job():
        pipeline, settings = KEPT[case] if system == "nodefusion-kept" else nodefusion_pipeline(request)
        return pipeline.map(table, **settings).to_arrow()[pipeline.outputs[0]]

    seconds, values = timed(job)
    return answer(seconds, values)


# ---------------------------------------------------------------------------------------
# hypernodes


def hypernodes_run(system, request, hypernode):
    """hypernodes' run of `request`; `hypernode(function, inputs, output)` makes a node
    (peers.py's)."""
    from hypernodes import DualNode, Pipeline, SeqEngine, stateful

    workload = request["workload"]
    if workload == "py_overhead":
        def job():
            nodes = [
                hypernode(ROW_BODIES[index % 3], ["x" if index == 0 else f"v{index - 1}"], f"v{index}")
                for index in range(request["nodes"])
            ]
            last = f"v{request['nodes'] - 1}"
            pipeline = Pipeline(nodes=nodes, engine=SeqEngine())
            results = pipeline.map(inputs={"x": list(range(request["rows"]))}, map_over="x",
                                   output_name=last)
            return pa.array([result[last] for result in results], pa.int64())

    elif workload == "py_batch":
        texts = strings(request["input"])["texts"].to_pylist()

        def job():
            dual = DualNode(output_name="upper", singular=lambda texts: texts.upper(), batch=upper)
            pipeline = Pipeline(nodes=[dual], engine=SeqEngine())
            results = pipeline.map(inputs={"texts": texts}, map_over="texts", output_name="upper")
            return pa.array([result["upper"] for result in results], pa.string())

    elif workload == "py_stateful":
        def job():
            resource = stateful(Slow)()
            dual = DualNode(output_name="y", singular=lambda x, resource: x * 2,
                            batch=lambda x, resource: resource(x))
            pipeline = Pipeline(nodes=[dual], engine=SeqEngine())
            results = pipeline.map(inputs={"x": list(range(request["rows"])), "resource": resource},
                                   map_over="x", output_name="y")
            return pa.array([result["y"] for result in results], pa.int64())

    else:
        from hypernodes.integrations.dask.engine import DaskEngine

        def job():
            engine = DaskEngine(scheduler="processes", num_workers=request["partitions"],
                                workload_type="cpu")
            pipeline = Pipeline(nodes=[hypernode(busy, ["x"], "y")], engine=engine)
            results = pipeline.map(inputs={"x": list(range(request["rows"]))}, map_over="x",
                                   output_name="y")
            return pa.array([result["y"] for result in results], pa.int64())

    seconds, values = timed(job)
    return answer(seconds, values)


# ---------------------------------------------------------------------------------------
# Daft


def daft_run(system, request):
    import daft
    from daft import DataType

    workload = request["workload"]
    if workload == "py_overhead":
        table = numbers(request["rows"])

        def job():
            frame = daft.from_arrow(table)
            previous = "x"
            for index in range(request["nodes"]):
                udf = daft.func(ROW_BODIES[index % 3], return_dtype=DataType.int64())
                frame = frame.with_column(f"v{index}", udf(daft.col(previous)))
                previous = f"v{index}"
            return frame.select(previous).to_arrow()[previous]

    elif workload == "py_batch":
        table = strings(request["input"])

        @daft.func.batch(return_dtype=DataType.string())
        def upper_batch(texts):
            return upper(texts.to_arrow())

        def job():
            return daft.from_arrow(table).select(upper_batch(daft.col("texts")).alias("upper")).to_arrow()["upper"]

    elif workload == "py_stateful":
        table = numbers(request["rows"])
        batch_size = request["batch_size"]

        @daft.cls(use_process=False)
        class SlowUdf:
            def __init__(self):
                self.slow = Slow()

            @daft.method.batch(return_dtype=DataType.int64(), batch_size=batch_size)
            def __call__(self, x):
                return self.slow(x.to_arrow())

        def job():
            return daft.from_arrow(table).select(SlowUdf()(daft.col("x")).alias("y")).to_arrow()["y"]

    else:
        table = numbers(request["rows"])

        @daft.cls(use_process=True, max_concurrency=request["partitions"])
        class BusyUdf:
            @daft.method(return_dtype=DataType.int64())
            def __call__(self, x):
                return busy(x)

        def job():
            return daft.from_arrow(table).select(BusyUdf()(daft.col("x")).alias("y")).to_arrow()["y"]

    seconds, values = timed(job)
    return answer(seconds, values)


# ---------------------------------------------------------------------------------------
# The floor: the same bodies in a plain loop in this process, no engine


def loop_run(system, request):
    """`py_stateful`: one instance, then its call on every batch; `py_cpu`: the body on
    every row in turn (one process, whatever the partitions)."""
    values = numbers(request["rows"])["x"].combine_chunks()
    if request["workload"] == "py_stateful":
        batch_size = request["batch_size"]

        def job():
            slow = Slow()
            return pa.concat_arrays([
                slow(values.slice(start, batch_size))
                for start in range(0, len(values), batch_size)
            ])

    else:

        def job():
            return pa.array([busy(x) for x in values.to_pylist()], pa.int64())

    seconds, result = timed(job)
    return answer(seconds, result)


WORKLOADS = ("py_overhead", "py_batch", "py_stateful", "py_cpu")


def handlers(system, hypernode):
    """The handlers of `system` for these workloads (`hypernode`: peers.py's node maker)."""
    if system in ("nodefusion", "nodefusion-kept"):
        return {workload: nodefusion_run for workload in WORKLOADS}
    if system == "daft-udf":
        return {workload: daft_run for workload in WORKLOADS}
    if system == "python-loop":
        return {"py_stateful": loop_run, "py_cpu": loop_run}
    run = functools.partial(hypernodes_run, hypernode=hypernode)
    if system == "hypernodes-dask":
        return {"py_cpu": run}
    if system == "hypernodes-seq":
        return {workload: run for workload in WORKLOADS if workload != "py_cpu"}
    return {}
