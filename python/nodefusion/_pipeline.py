"""Pipelines from Python: `nodefusion.Pipeline([nodes...]).map(table)` (nodes wired by their
parameters' names, as in hypernodes) and `nodefusion.Pipeline.from_file(path).run()`; each
run returns its rows with a `Summary` (rows, time per node, instances built)."""

import os
from dataclasses import dataclass, field

from . import _native
from ._data import arrow_data
from ._node import as_node
from ._sql import DataFrame


@dataclass
class NodeSummary:
    """One node's figures in a run: rows, compute time (seconds, summed over partitions),
    instances built (a stateful class's `__init__` calls; threads or worker processes),
    their init time, rows that got a null under `on_error = "null"` and the first one's
    failure."""

    node: str
    rows: int
    compute: float
    instances: int
    init: float
    failed_rows: int
    first_failure: str | None
    retries: int


@dataclass
class Summary:
    """What a run did: rows in and out, wall time (seconds), per node figures, files
    written; `str()` gives the text the `nodefusion` command prints."""

    pipeline: str
    rows_in: int
    rows_out: int
    wall_time: float
    nodes: list = field(default_factory=list)
    files: list = field(default_factory=list)
    text: str = ""

    @classmethod
    def of(cls, figures):
        """A summary from the engine's figures."""
        nodes = [NodeSummary(**node) for node in figures.pop("nodes")]
        return cls(nodes=nodes, **figures)

    def node(self, name):
        """The figures of the node `name`."""
        for node in self.nodes:
            if node.node == name:
                return node
        raise KeyError(f"no node '{name}' in the run of '{self.pipeline}'")

    def __str__(self):
        return self.text


def _settings(settings):
    return [(key, str(value)) for key, value in settings.items() if value is not None]


class Pipeline:
    """A pipeline: nodes (`@nodefusion.node` functions and classes, `nodefusion.builtin`,
    `nodefusion.expression`, hypernodes nodes, or plain annotated functions) wired by column
    name, each node's inputs its parameters' names. `defaults` are node settings for every
    node (`batch_size=1024`, `isolation="process"`); a node's own win.

    A pipeline keeps its Python nodes' instances between its runs with the same settings (a
    stateful object built once, a worker process's function unpickled once) until it is
    closed (`close()`, or the end of a `with` block, which wait for stateful objects'
    `close`), or dropped."""

    def __init__(self, nodes, *, name="pipeline", outputs=None, partitions=None, **defaults):
        self.nodes = [as_node(item) for item in nodes]
        self.name = name
        self.outputs = list(outputs) if outputs is not None else None
        self.partitions = partitions
        self.defaults = defaults
        self._file = None
        self._set = []
        self._kept = None  # (settings, the native pipeline that keeps instances)

    @classmethod
    def from_file(cls, path, set=None):
        """The pipeline file at `path` (TOML; its `python = "module:function"` nodes import
        in this interpreter), with `set` overrides as `--set` takes them
        (`["defaults.batch_size=64"]`)."""
        pipeline = cls([], name=os.path.splitext(os.path.basename(os.fspath(path)))[0])
        pipeline._file = os.fspath(path)
        pipeline._set = list(set or [])
        return pipeline

    def _native(self, settings=None, partitions=None, outputs=None):
        settings = {**self.defaults, **(settings or {})}
        partitions = partitions if partitions is not None else self.partitions
        if self._file is not None:
            overrides = list(self._set)
            overrides += [f"defaults.{key}={value}" for key, value in _settings(settings)]
            if partitions is not None:
                overrides.append(f"defaults.partitions={partitions}")
            if outputs is not None:
                raise TypeError("a pipeline file's outputs are its [output] columns")
            return _native.Pipeline.from_file(self._file, overrides)
        key = (tuple(_settings(settings)), partitions, tuple(outputs or self.outputs or ()))
        if self._kept is None or self._kept[0] != key:
            self.close()
            native = _native.Pipeline.of_nodes(
                self.name,
                [node.describe() for node in self.nodes],
                _settings(settings),
                partitions,
                outputs if outputs is not None else self.outputs,
            )
            self._kept = (key, native)
        return self._kept[1]

    def close(self):
        """Closes the instances the pipeline's Python nodes keep between runs (a stateful
        object's `close` runs), waiting until they are."""
        if self._kept is not None:
            self._kept[1].close()
            self._kept = None

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def map(self, data, *, batch_size=None, partitions=None, outputs=None, **settings):
        """Runs the pipeline over `data` (pyarrow, pandas, polars, a dict of columns, a
        list of rows): its rows (every input column and node output, or `outputs`), as a
        `DataFrame` whose `summary` tells how the run went. `batch_size`, `partitions` and
        other node settings apply to every node without its own."""
        if batch_size is not None:
            settings["batch_size"] = batch_size
        native = self._native(settings, partitions, outputs)
        rows, figures = native.map(arrow_data(data))
        return DataFrame(rows, Summary.of(figures))

    def run(self, input=None, output=None):
        """Runs the pipeline from its file's input (or `input`, a path) into its file's
        output (or `output`, a Parquet path), and returns the `Summary`."""
        return Summary.of(self._native().run(input, output))

    def explain(self, data=None):
        """The DAG (how each node runs: native or Python) and the plans, over `data` or the
        file's input."""
        native = self._native()
        return native.explain(arrow_data(data) if data is not None else None)

    def __repr__(self):
        if self._file is not None:
            return f"<nodefusion.Pipeline from {self._file}>"
        return f"<nodefusion.Pipeline {self.name}: {', '.join(node.name for node in self.nodes)}>"
