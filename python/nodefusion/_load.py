"""Pipeline files' Python nodes: `python = "module:function"` (looked up in the pipeline
file's directory first, then on `sys.path`) or `python = "path/file.py:function"` (relative
to the pipeline file). The function may be a `@nodefusion.node` (its output, return type
and settings apply, below the file's own) or a plain function (its annotations give its
output type). An import error names the module and where it was looked for."""

import importlib
import importlib.util
import os
import sys

from ._node import Node


def _split(reference):
    module, separator, name = reference.rpartition(":")
    if not separator or not module or not name:
        raise ValueError(
            f"python = '{reference}' is not 'module:function' or 'path/file.py:function'"
        )
    return module, name


def _from_path(path):
    """The module in the file `path`, loaded under a name of its own."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no Python file {path}")
    name = "nodefusion_pipeline_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(path))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    # Not importable by name in a worker process: its functions are pickled by value.
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return module


def _from_name(module_name, directory):
    """The module `module_name`, looked up in `directory` first, then on `sys.path`."""
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):
            raise
        places = ", ".join(path or "." for path in sys.path)
        raise ModuleNotFoundError(
            f"no module named '{error.name}' (looked in {places})", name=error.name
        ) from None


def load_node(reference, directory):
    """The node `reference` names, relative to the pipeline file's `directory`."""
    directory = os.path.abspath(directory)
    module_part, name = _split(reference)
    if module_part.endswith(".py") or os.sep in module_part or "/" in module_part:
        module = _from_path(os.path.join(directory, module_part))
    else:
        module = _from_name(module_part, directory)
    target = module
    for part in name.split("."):
        if not hasattr(target, part):
            public = sorted(key for key in vars(module) if not key.startswith("_"))
            raise AttributeError(
                f"module '{module_part}' has no '{name}' (it has: {', '.join(public) or 'nothing'})"
            )
        target = getattr(target, part)
    node = target if isinstance(target, Node) else Node(target)
    node.origin = reference
    return node
