"""Runners: what an instance of a Python node runs once per batch, on the instance's thread
or in its worker process. A runner gets one pyarrow array per parameter and returns
`(values, failures)`: a pyarrow array of the node's type, null where a row failed, and the
failed rows as `(row, message)` pairs, in row order; or `(None, message)` when the batch
failed as a whole (a batch function raising: the engine then calls it a row at a time to
find the row). A message is the exception with its last frames.

A row whose value is null for a parameter that takes no None (see `nodefusion._types`) is
not called: its value is null.
"""

import asyncio
import inspect
import os
import random
import traceback

import pyarrow as pa

try:
    import numpy  # noqa: F401 (only whether it is there: pyarrow's `to_numpy` needs it)

    NUMPY = True
except ImportError:
    NUMPY = False

# The frames of a traceback a message keeps, the last ones outside nodefusion.
FRAMES = 3
# Rows called between two looks at the cancel flag.
CHUNK = 1024

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


class Cancelled(Exception):
    """The run was cancelled (Ctrl-C, or a failure elsewhere): the runner stops between
    rows."""


def exception_text(error, frames=FRAMES):
    """`TypeError: message`, then the last `frames` frames of the exception's traceback
    outside nodefusion's own code."""
    stack = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not os.path.abspath(frame.filename).startswith(_PACKAGE)
    ]
    lines = [f"{type(error).__name__}: {error}".rstrip(": ")]
    for frame in stack[-frames:]:
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    return "\n".join(lines)


def python_values(array):
    """The values of `array` as Python objects, None for nulls. Numbers without nulls go
    through NumPy where it is installed (several times faster); the package does not
    require it."""
    kind = array.type
    if (
        NUMPY
        and array.null_count == 0
        and (pa.types.is_integer(kind) or pa.types.is_floating(kind))
    ):
        return array.to_numpy().tolist()
    return array.to_pylist()


def called_rows(arrays, optional):
    """The rows to call, or None for all: rows with a null for a parameter that takes no
    None are skipped."""
    strict = [array for array, takes_none in zip(arrays, optional) if not takes_none and array.null_count]
    if not strict:
        return None
    valid = [all(row) for row in zip(*(array.is_valid().to_pylist() for array in strict))]
    return [row for row, called in enumerate(valid) if called]


def to_array(values, failures, return_type):
    """`values` as an array of `return_type`; a value that is not one fails its row."""
    try:
        return pa.array(values, type=return_type), failures
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        pass
    failed = dict(failures)
    for row, value in enumerate(values):
        if value is None or row in failed:
            continue
        try:
            pa.array([value], type=return_type)
        except Exception as error:
            shown = repr(value)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            failed[row] = (
                f"returned {shown} ({type(value).__name__}), not a value of the node's type "
                f"{return_type}: {error}"
            )
            values[row] = None
    return pa.array(values, type=return_type), sorted(failed.items())


def batch_array(result, rows, return_type):
    """A batch function's result (an Arrow array, a list, a NumPy array, a pandas Series)
    as an array of `return_type` with one value per row."""
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    if not isinstance(result, pa.Array):
        if hasattr(result, "__arrow_c_array__"):
            result = pa.array(result)
        else:
            result = pa.array(result, type=return_type, from_pandas=True)
    if len(result) != rows:
        raise ValueError(f"returned {len(result)} values for a batch of {rows} rows")
    if result.type != return_type:
        try:
            result = result.cast(return_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise TypeError(
                f"returned {result.type} values, which do not cast to the node's type {return_type}: {error}"
            ) from None
    return result


class Runner:
    """What the runners share: the node, its function (a class's instance for a stateful
    node) and how the batch's rows are called."""

    def __init__(self, function, node, owner, cancelled):
        self.function = function
        self.node = node
        self.owner = owner
        self.cancelled = cancelled

    def __call__(self, arrays):
        try:
            return self.compute(arrays)
        except Cancelled:
            raise
        except Exception as error:
            return None, exception_text(error)

    def compute(self, arrays):
        """Calls the rows, those a null does not skip."""
        rows = len(arrays[0])
        columns = [python_values(array) for array in arrays]
        called = called_rows(arrays, self.node.optional)
        if called is None:
            values, failures = self.call_rows(columns)
        else:
            picked, failures = self.call_rows([[column[row] for row in called] for column in columns])
            values = [None] * rows
            for position, row in enumerate(called):
                values[row] = picked[position]
            failures = [(called[position], message) for position, message in failures]
        return to_array(values, failures, self.node.return_type)

    def call_rows(self, columns):
        """The function's values for the rows of `columns`, and the rows that failed."""
        raise NotImplementedError

    def close(self):
        """Called when the instance ends: a stateful object's own `close`, if it has one."""
        close = getattr(self.owner, "close", None)
        if callable(close):
            close()


class Rows(Runner):
    """A function called once per row with the row's values."""

    def call_rows(self, columns):
        count = len(columns[0])
        values, failures = [], []
        start = 0
        while start < count:
            if self.cancelled:
                raise Cancelled()
            end = min(start + CHUNK, count)
            try:
                values.extend(map(self.function, *(column[start:end] for column in columns)))
                start = end
            except Exception as error:
                # The values before the failing row are in; it is the next.
                failures.append((len(values), exception_text(error)))
                values.append(None)
                start = len(values)
        return values, failures


# What a failed async call is tried again for: a timeout, a connection that failed.
RETRIED = (asyncio.TimeoutError, OSError)
# The first wait before a call is tried again, and the longest, in seconds.
FIRST_BACKOFF = 0.1
LONGEST_BACKOFF = 10.0


class AsyncRows(Runner):
    """An async function called once per row, up to `max_concurrency` rows in flight on the
    instance's own event loop (the operator makes one instance of such a node), each call
    within `timeout_ms`; a call that timed out or failed to connect (`OSError`) is tried
    again up to `max_retries` times, after a jittered exponential backoff."""

    def __init__(self, function, node, owner, cancelled, options):
        super().__init__(function, node, owner, cancelled)
        self.loop = asyncio.new_event_loop()
        self.limit = options.get("max_concurrency") or 16
        self.timeout = options.get("timeout")
        self.retries = options.get("max_retries", 0)

    def call_rows(self, columns):
        return self.loop.run_until_complete(self.rows(columns))

    async def call(self, arguments):
        """One row's call, tried again as the node's settings say."""
        for attempt in range(self.retries + 1):
            try:
                return await asyncio.wait_for(self.function(*arguments), self.timeout)
            except RETRIED:
                if attempt == self.retries:
                    raise
            backoff = min(LONGEST_BACKOFF, FIRST_BACKOFF * 2**attempt)
            await asyncio.sleep(backoff * random.uniform(0.75, 1.25))

    async def rows(self, columns):
        """Every row's call, at most `limit` at once, in row order."""
        slots = asyncio.Semaphore(self.limit)

        async def one(arguments):
            async with slots:
                return await self.call(arguments)

        outcomes = await asyncio.gather(*(one(row) for row in zip(*columns)), return_exceptions=True)
        values, failures = [], []
        tries = f" ({self.retries + 1} tries)" if self.retries else ""
        for row, outcome in enumerate(outcomes):
            if isinstance(outcome, asyncio.TimeoutError):
                limit = f"timeout_ms = {self.timeout * 1000:.0f}"
                failures.append((row, f"TimeoutError: the call took longer than {limit}{tries}"))
                values.append(None)
            elif isinstance(outcome, BaseException):
                failures.append((row, exception_text(outcome)))
                values.append(None)
            else:
                values.append(outcome)
        return values, failures

    def close(self):
        super().close()
        self.loop.close()


class Batch(Runner):
    """A function called once per batch with one pyarrow array per parameter. An exception
    fails the batch (the engine then narrows it to a row); a result of the wrong length or
    type fails every row of the batch."""

    loop = None

    def compute(self, arrays):
        rows = len(arrays[0])
        result = self.function(*arrays)
        if inspect.isawaitable(result):
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            result = self.loop.run_until_complete(result)
        try:
            return batch_array(result, rows, self.node.return_type), []
        except (ValueError, TypeError, pa.ArrowException) as error:
            message = exception_text(error)
            return pa.nulls(rows, self.node.return_type), [(row, message) for row in range(rows)]

    def close(self):
        super().close()
        if self.loop is not None:
            self.loop.close()


def make_runner(node, options):
    """The runner of an instance of `node`: a stateful class's object is built here, on the
    instance's thread or in its worker process. `options`: `max_concurrency`, `timeout`
    (seconds) and `cancelled` (a flag that turns true when the run is cancelled)."""
    cancelled = options.get("cancelled")
    owner = node.function(**node.init) if node.is_class else None
    function = owner if node.is_class else node.function
    if node.batch:
        return Batch(function, node, owner, cancelled)
    if node.is_async:
        return AsyncRows(function, node, owner, cancelled, options)
    return Rows(function, node, owner, cancelled)
