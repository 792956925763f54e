"""Arrow types from Python annotations. A node's output type comes from its return
annotation or its `returns=`, never from the data it happens to return; a parameter
annotated as optional (`str | None`) receives None for a null, any other skips the row."""

import collections.abc
import datetime
import decimal
import inspect
import types
import typing

import pyarrow as pa

_SCALARS = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    datetime.date: pa.date32(),
    datetime.datetime: pa.timestamp("us"),
    datetime.time: pa.time64("us"),
    datetime.timedelta: pa.duration("us"),
    decimal.Decimal: pa.decimal128(38, 10),
}

_LISTS = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)
_UNIONS = (typing.Union, types.UnionType)


def arrow_type(annotation):
    """The Arrow type of values annotated `annotation`, or None when it names none
    (no annotation, `Any`, `pa.Array`, a class of the user's)."""
    if isinstance(annotation, pa.DataType):
        return annotation
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        declared = [extra for extra in arguments[1:] if isinstance(extra, pa.DataType)]
        return declared[0] if declared else arrow_type(arguments[0])
    if origin in _UNIONS:
        kinds = [argument for argument in arguments if argument is not type(None)]
        return arrow_type(kinds[0]) if len(kinds) == 1 else None
    if origin in _LISTS and len(arguments) == 1:
        item = arrow_type(arguments[0])
        return pa.list_(item) if item is not None else None
    if origin in (dict, collections.abc.Mapping) and len(arguments) == 2:
        key, value = arrow_type(arguments[0]), arrow_type(arguments[1])
        return pa.map_(key, value) if key is not None and value is not None else None
    return None


def accepts_none(annotation):
    """Whether a parameter annotated `annotation` takes None (for a null value): an
    optional type, or no annotation that names a type."""
    if annotation is inspect.Parameter.empty or annotation is typing.Any:
        return False
    if typing.get_origin(annotation) is typing.Annotated:
        return accepts_none(typing.get_args(annotation)[0])
    return typing.get_origin(annotation) in _UNIONS and type(None) in typing.get_args(annotation)


def annotations_of(function):
    """The annotations of `function`'s parameters and return, resolved where they are
    strings (`from __future__ import annotations`)."""
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:
        return dict(getattr(function, "__annotations__", {}))
