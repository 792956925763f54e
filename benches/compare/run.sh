#!/usr/bin/env bash
# The comparison harness: every seed workload on nodefusion and on its Python peers
# (hypernodes, Daft, DuckDB, DataFusion for Python, sentence-transformers), same inputs,
# same run; writes benches/results/<workload>.json and regenerates BENCHMARKS.md.
#
#   benches/compare/run.sh [--setup] [--quick] [--only WORKLOAD]... [--repeats N]
#
# --setup   creates the virtual environment of pinned peers (benches/compare/requirements.txt)
#           at $NODEFUSION_BENCH_VENV (default target/bench-venv); needs python3 and PyPI
# --quick   a reduced set of cases, about 5 minutes
# --only    overhead | text | builtins | text_builtins | stateful | batch_size | io | embed |
#           cluster | py_overhead | py_batch | py_stateful | py_cpu (repeatable; py_*: Python
#           nodes, issue 28)
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${NODEFUSION_BENCH_VENV:-target/bench-venv}"
harness_arguments=()
setup=false
for argument in "$@"; do
    case "$argument" in
        --setup) setup=true ;;
        *) harness_arguments+=("$argument") ;;
    esac
done
if $setup; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --progress-bar off -r benches/compare/requirements.txt
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "no virtual environment at $venv: run benches/compare/run.sh --setup first" >&2
    exit 1
fi

# One build: the bench profile builds the runner and, beside it, the nodefusion binary
# (with the same features, so DataFusion compiles once). Their paths from cargo's messages:
read -r runner nodefusion <<<"$(benches/shared/bench_executables.sh nodefusion_runner)"
"$nodefusion" model pull >/dev/null
# The Python package, into the environment, in the release profile (the settings the bench
# profile inherits, so it reuses that build; maturin builds with `cargo rustc`, where
# `--profile bench` would make the library a bench harness executable).
MATURIN_PEP517_ARGS="--profile release" "$venv/bin/pip" install --quiet --progress-bar off ./python

exec "$venv/bin/python" benches/compare/harness.py --runner "$runner" \
    --nodefusion "$nodefusion" ${harness_arguments[@]+"${harness_arguments[@]}"}
