"""The `nodefusion` command installed with the package: nodefusion's command line, run in
this interpreter, so that pipeline files' Python nodes import from its environment."""

import sys

from . import _native


def main():
    """The console script's entry point."""
    try:
        code = _native.run_command(["nodefusion", *sys.argv[1:]])
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
