#!/usr/bin/env bash
# Builds the plain-harness bench BENCH in the bench profile and prints its executable's
# path, then the nodefusion binary's, built beside it with the same features (so DataFusion
# compiles once):
#
#   read -r runner nodefusion <<<"$(benches/shared/bench_executables.sh BENCH)"
set -euo pipefail
cargo bench --no-run --bench "$1" --message-format=json |
    python3 -c 'import json, sys
paths = {}
for line in sys.stdin:
    message = json.loads(line)
    if message.get("executable"):
        paths[message["target"]["name"]] = message["executable"]
print(paths[sys.argv[1]], paths["nodefusion"])' "$1"
