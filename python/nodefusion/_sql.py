"""SQL from Python: `nodefusion.sql(query, **tables)` and `nodefusion.Session`, with every
nodefusion function (`normalize_text`, `embed`, `llm`, ...) and DataFusion's own; results
are `DataFrame`s, read through the Arrow PyCapsule interface or as pyarrow, pandas, polars
or Python rows."""

import os

from . import _native
from ._data import arrow_data
from ._node import Node


class DataFrame:
    """Rows: a query's (lazy: computed each time it is read) or a pipeline's (computed).
    Any Arrow consumer takes it (`pyarrow.table(df)`, `polars.from_arrow(df)`, DuckDB) by
    `__arrow_c_stream__`; a pipeline's also has the run's `summary`."""

    def __init__(self, native, summary=None):
        self._native = native
        self.summary = summary

    def __arrow_c_stream__(self, requested_schema=None):
        return self._native.__arrow_c_stream__(requested_schema)

    @property
    def schema(self):
        """The columns and their types (a `pyarrow.Schema`)."""
        return self._native.schema()

    @property
    def columns(self):
        """The columns' names."""
        return self.schema.names

    def to_arrow(self):
        """Every row, as a `pyarrow.Table`."""
        return self._native.to_arrow()

    def to_pandas(self, **options):
        """Every row, as a pandas DataFrame (`options` go to `pyarrow.Table.to_pandas`)."""
        return self.to_arrow().to_pandas(**options)

    def to_polars(self):
        """Every row, as a polars DataFrame."""
        import polars

        return polars.from_arrow(self.to_arrow())

    def to_pylist(self):
        """Every row, as a list of dicts."""
        return self.to_arrow().to_pylist()

    def to_pydict(self):
        """Every column, as a dict of lists."""
        return self.to_arrow().to_pydict()

    def explain(self, analyze=False):
        """The logical and physical plans; with `analyze`, computed, with each operator's
        figures."""
        return self._native.explain(analyze)

    def head(self, count=5):
        """The first `count` rows (lazy, as this one is)."""
        return DataFrame(self._native.limit(count), self.summary)

    def __len__(self):
        return self._native.count()

    def __repr__(self):
        table = self._native.limit(11).to_arrow()
        shown = table.slice(0, 10)
        text = shown.to_pandas().to_string() if _has_pandas() else str(shown)
        return text + ("\n..." if table.num_rows > 10 else "")


def _has_pandas():
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


class Session:
    """A session: tables and Python functions registered once, queried by `sql`."""

    def __init__(self):
        self._native = _native.Session()

    def register(self, name, data):
        """Makes `data` the table `name` (replacing one of that name): Arrow data in memory
        (pyarrow, pandas, polars, a dict of columns, a list of rows), or a path: a Parquet,
        CSV or JSON file, a directory, a glob, or an s3:// gs:// az:// http(s):// URL."""
        if isinstance(data, (str, os.PathLike)):
            self._native.register_path(name, os.fspath(data))
        else:
            self._native.register_arrow(name, arrow_data(data, f"table '{name}'"))
        return self

    def register_function(self, node):
        """Makes a Python node (`@nodefusion.node`) a SQL function of the session, under
        its name: `SELECT shout(text) FROM docs`."""
        if not isinstance(node, Node):
            node = Node(node)
        self._native.register_function(node)
        return self

    def sql(self, query):
        """The result of `query`, planned now, computed when read (DDL, such as `CREATE
        TABLE ... AS`, runs now)."""
        return DataFrame(self._native.sql(query))

    def tables(self):
        """The names of the session's tables."""
        return sorted(self._native.tables())


def sql(query, **tables):
    """The result of `query` over `tables` (each name a table: see `Session.register`) and
    any file named in it (`SELECT * FROM 'data/docs.parquet'`)."""
    session = Session()
    for name, data in tables.items():
        session.register(name, data)
    return session.sql(query)
