"""nodefusion: a dataflow engine on Apache Arrow, from Python.

- SQL: `nodefusion.sql(query, **tables)`, `nodefusion.Session`; tables from any Arrow
  producer (pyarrow, pandas, polars), results any Arrow consumer takes (`DataFrame`);
- pipelines: `@nodefusion.node` functions and classes, `nodefusion.builtin` and
  `nodefusion.expression` nodes in a `nodefusion.Pipeline`, run with `.map(table)`;
  pipeline files with `nodefusion.Pipeline.from_file(path).run()`;
- the `nodefusion` command, which runs pipeline files in this interpreter.

Python nodes run on threads of their own, taking the interpreter's lock once per batch, or
in worker processes (`isolation="process"`) for CPU-bound code.
"""

import atexit

from . import _native
from ._native import NodeError, NodefusionError, __version__
from ._node import Builtin, Expression, Node, builtin, expression, node
from ._pipeline import NodeSummary, Pipeline, Summary
from ._sql import DataFrame, Session, sql

# Threads of runs that were cancelled end before the interpreter finalizes.
atexit.register(_native.join_threads, 10.0)

__all__ = [
    "Builtin",
    "DataFrame",
    "Expression",
    "Node",
    "NodeError",
    "NodeSummary",
    "NodefusionError",
    "Pipeline",
    "Session",
    "Summary",
    "__version__",
    "builtin",
    "expression",
    "node",
    "sql",
]
