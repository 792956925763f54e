"""Nodes of pipelines built in Python, in hypernodes' shape: `@nodefusion.node` makes a
function (row-wise, batch or async) or a stateful class a node whose inputs are its
parameters, by name; `nodefusion.builtin` and `nodefusion.expression` make nodes of
nodefusion's native functions and of SQL expressions."""

import hashlib
import inspect
import marshal

import pyarrow as pa

from . import _runner
from ._types import accepts_none, annotations_of, arrow_type

# Node settings the decorators take, as text for the engine (which checks them and names a
# bad one): the table "Node settings" of the README lists them all.
SETTINGS = (
    "batch_size",
    "max_concurrency",
    "on_error",
    "timeout_ms",
    "max_retries",
    "cache",
    "budget_usd",
    "max_tokens_total",
    "precision",
    "threads",
    "isolation",
)


def _setting_text(key, value):
    if key not in SETTINGS:
        raise TypeError(f"unknown node setting '{key}'; the settings are {', '.join(SETTINGS)}")
    if isinstance(value, bool):
        raise TypeError(f"node setting '{key}' takes a number or a word, not {value!r}")
    return str(value)


def _settings(settings):
    return {key: _setting_text(key, value) for key, value in settings.items() if value is not None}


def _code_hash(function, *more):
    """A hash of the code of `function` (a function or a class: its source where Python
    has it, else its compiled code) and of `more`: results kept in the cache are kept
    under it."""
    try:
        text = inspect.getsource(function).encode()
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        text = marshal.dumps(code) if code is not None else repr(function).encode()
    return hashlib.sha256(text + repr(more).encode()).hexdigest()[:16]


class Node:
    """A pipeline node running Python: a function, called per row (its parameters get one
    row's values) or per batch (`batch=True`: one `pyarrow.Array` per parameter), or a
    class whose instances are built once each (`__init__`) and called like such a function.
    Its inputs are its parameters' names; its output type is its return annotation or
    `returns` (a pyarrow type). Calling the node calls the function (or builds the class).
    """

    def __init__(
        self,
        function,
        *,
        output=None,
        name=None,
        inputs=None,
        batch=False,
        returns=None,
        init=None,
        **settings,
    ):
        if not callable(function):
            raise TypeError(f"a node runs a function or a class, not {function!r}")
        self.settings = _settings(settings)
        self.function = function
        self.is_class = inspect.isclass(function)
        call = function.__call__ if self.is_class else function
        self.name = name or function.__name__
        self.output = output
        self.batch = bool(batch)
        self.init = dict(init or {})
        self.is_async = inspect.iscoroutinefunction(call)
        signature = inspect.signature(call)
        parameters = list(signature.parameters.values())
        if self.is_class:
            parameters = parameters[1:]
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
            raise TypeError(f"node '{self.name}': *args and **kwargs cannot be wired to columns")
        if not parameters:
            raise TypeError(f"node '{self.name}': its function takes no parameter (the columns it reads)")
        self.parameters = [parameter.name for parameter in parameters]
        self.inputs = list(inputs) if inputs is not None else None
        if self.inputs is not None and len(self.inputs) != len(self.parameters):
            raise TypeError(
                f"node '{self.name}': inputs={self.inputs} names {len(self.inputs)} columns for "
                f"{len(self.parameters)} parameters ({', '.join(self.parameters)})"
            )
        annotations = annotations_of(call)
        self.optional = [accepts_none(annotations.get(p.name, p.empty)) for p in parameters]
        self.return_type = self._return_type(returns, annotations.get("return"))
        module = getattr(function, "__module__", None) or "__main__"
        self.origin = f"{module}:{getattr(function, '__qualname__', self.name)}"
        self.code_hash = _code_hash(function, sorted(self.init.items()), str(self.return_type))

    def _return_type(self, returns, annotation):
        if returns is not None:
            if not isinstance(returns, pa.DataType):
                returns = arrow_type(returns)
            if returns is None:
                raise TypeError(f"node '{self.name}': returns= takes a pyarrow type such as pa.int64()")
            return returns
        declared = arrow_type(annotation)
        if declared is None:
            what = "no return annotation" if annotation is None else f"the return annotation {annotation!r}"
            raise TypeError(
                f"node '{self.name}': {what} names no Arrow type; annotate it (-> str, -> list[float]) "
                "or give returns=pa.int64() (nodefusion never guesses a type from the data)"
            )
        return declared

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def __repr__(self):
        kind = "class" if self.is_class else "async" if self.is_async else "batch" if self.batch else "row"
        return f"<nodefusion.Node {self.name}({', '.join(self.columns)}) -> {self.output_column}: {self.return_type} [{kind}]>"

    @property
    def columns(self):
        """The columns the node reads: its inputs, or its parameters' names."""
        return self.inputs if self.inputs is not None else self.parameters

    @property
    def output_column(self):
        """The column the node writes: its output, or its name."""
        return self.output or self.name

    def with_options(self, **changes):
        """A copy with some of the decorator's arguments changed (`output`, `name`,
        `inputs`, `returns`, settings)."""
        copy = object.__new__(Node)
        copy.__dict__.update(self.__dict__)
        for key in ("output", "name"):
            if key in changes:
                setattr(copy, key, changes.pop(key))
        if "inputs" in changes:
            copy.inputs = list(changes.pop("inputs"))
        if "returns" in changes:
            copy.return_type = copy._return_type(changes.pop("returns"), None)
        copy.settings = {**self.settings, **_settings(changes)}
        return copy

    def make_runner(self, options):
        """What an instance of the node runs per batch (see `nodefusion._runner`)."""
        return _runner.make_runner(self, options)

    def pickled(self):
        """The node, pickled for a worker process (`isolation = "process"`)."""
        import cloudpickle

        try:
            return cloudpickle.dumps(self)
        except Exception as error:
            raise TypeError(
                f"node '{self.name}': isolation = \"process\" sends the function to worker "
                f"processes, and it cannot be pickled: {type(error).__name__}: {error}"
            ) from error

    def describe(self):
        """The node as the engine builds it."""
        return {
            "kind": "python",
            "name": self.name,
            "node": self,
            "inputs": self.columns,
            "output": self.output_column,
            "settings": list(self.settings.items()),
        }


def node(function=None, *, output=None, name=None, inputs=None, batch=False, returns=None, init=None, **settings):
    """Makes a function or a class a pipeline node (see `Node`), as `@nodefusion.node` or
    `@nodefusion.node(output="n", batch=True, max_concurrency=2)`.

    - `output`: the column it writes (default: its name); `name`: the node's name (default:
      the function's); `inputs`: the columns it reads, in parameter order (default: the
      parameters' names);
    - `batch`: called once per batch with one `pyarrow.Array` per parameter, returning an
      Array, a list or a NumPy array of the same length; else once per row;
    - `returns`: the output's pyarrow type, when the return annotation names none;
    - `init`: keyword arguments for a class's `__init__`;
    - node settings: `batch_size`, `max_concurrency` (instances; for async functions, calls
      in flight), `isolation` (`"thread"` or `"process"`), `on_error` (`"fail"` or
      `"null"`), `timeout_ms` (async: per call), `cache`, ...
    """

    def make(target):
        return Node(
            target,
            output=output,
            name=name,
            inputs=inputs,
            batch=batch,
            returns=returns,
            init=init,
            **settings,
        )

    return make(function) if function is not None else make


class NativeNode:
    """A node the engine computes itself, with no Python at run time."""

    kind = None

    def __init__(self, *, name, output, settings):
        self.name = name
        self.output = output
        self.settings = _settings(settings)

    def body(self):
        """What the node computes, as the engine reads it."""
        raise NotImplementedError

    def describe(self):
        """The node as the engine builds it."""
        return {
            "kind": self.kind,
            "name": self.name,
            "output": self.output,
            "settings": list(self.settings.items()),
            **self.body(),
        }


class Builtin(NativeNode):
    """A node running a native function of nodefusion (`normalize_text`, `embed`, `llm`,
    DataFusion's own)."""

    kind = "builtin"

    def __init__(self, function, *, inputs, output=None, name=None, params=None, **settings):
        super().__init__(name=name or output or function, output=output, settings=settings)
        self.function = function
        self.inputs = list(inputs)
        self.params = dict(params or {})

    def __repr__(self):
        return f"<nodefusion.builtin {self.function}({', '.join(self.inputs)}) -> {self.output or self.name}>"

    def body(self):
        return {"function": self.function, "inputs": self.inputs, "params": self.params}


def builtin(function, *, inputs, output=None, name=None, params=None, **settings):
    """A node running nodefusion's native function `function` on the columns `inputs`,
    with the constant parameters `params` (`{"max_chars": 500}`) and node settings."""
    return Builtin(function, inputs=inputs, output=output, name=name, params=params, **settings)


class Expression(NativeNode):
    """A node computing a SQL expression over the columns it names (`words < 50`)."""

    kind = "sql"

    def __init__(self, expression, *, output, name=None, **settings):
        super().__init__(name=name or output, output=output, settings=settings)
        self.expression = expression

    def __repr__(self):
        return f"<nodefusion.expression {self.expression!r} -> {self.output}>"

    def body(self):
        return {"expression": self.expression}


def expression(sql, *, output, name=None, **settings):
    """A node computing the SQL expression `sql` (`"words < 50"`) into the column `output`."""
    return Expression(sql, output=output, name=name, **settings)


def from_hypernodes(item):
    """A hypernodes node as a nodefusion node: a `@hypernodes.node` runs its function row
    by row, a `DualNode` its batch function (typed by its singular function's return
    annotation)."""
    output = item.output_name
    if not isinstance(output, str):
        raise TypeError(f"hypernodes node with the outputs {output}: a nodefusion node has one output")
    if hasattr(item, "singular") and hasattr(item, "batch"):
        returns = arrow_type(annotations_of(item.singular).get("return"))
        return Node(item.batch, output=output, batch=True, returns=returns)
    return Node(item.func, output=output)


def as_node(item):
    """A pipeline's item as a node: a `Node`, `Builtin` or `Expression`, a hypernodes node,
    or a function or class, decorated on the spot."""
    if isinstance(item, (Node, NativeNode)):
        return item
    if type(item).__module__.split(".")[0] == "hypernodes":
        return from_hypernodes(item)
    if callable(item):
        return Node(item)
    raise TypeError(f"a pipeline's nodes are nodefusion nodes or functions, not {item!r}")

