"""Tables from Python: anything that speaks the Arrow PyCapsule interface
(`__arrow_c_stream__`: pyarrow, polars, DuckDB, nodefusion's results) as it is; pandas
frames (without their index), dicts of columns and lists of rows through pyarrow."""

import pyarrow as pa


def _is_pandas(data):
    return type(data).__module__.startswith("pandas.") and type(data).__name__ == "DataFrame"


def arrow_data(data, what="data"):
    """`data` as an object with `__arrow_c_stream__`."""
    if _is_pandas(data):
        return pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "__arrow_c_stream__"):
        return data
    if hasattr(data, "__arrow_c_array__"):
        return pa.table(pa.record_batch(data))
    if isinstance(data, dict):
        return pa.table(data)
    if isinstance(data, list):
        return pa.Table.from_pylist(data)
    raise TypeError(
        f"{what}: expected Arrow data (a pyarrow, pandas or polars table: anything with "
        f"__arrow_c_stream__), a dict of columns or a list of rows, got {type(data).__name__}"
    )
