#!/usr/bin/env bash
# Runs a command as on an AVX2-only CPU, on a machine with AVX-512 (and AMX): the command and
# every process it starts see neither (scripts/without_avx512.c, preloaded), and glibc picks
# its AVX2 string functions. For measuring the test suite and `embed` on the paths of
# AVX2-only machines, e.g.
#   scripts/without_avx512.sh target/debug/deps/integration-HASH --test-threads 2
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
library="$(mktemp -d)/without_avx512.so"
cc -O2 -shared -fPIC -o "$library" "$here/without_avx512.c" -ldl
export LD_PRELOAD="$library${LD_PRELOAD:+:$LD_PRELOAD}"
export GLIBC_TUNABLES="glibc.cpu.hwcaps=-AVX512F,-AVX512CD,-AVX512BW,-AVX512DQ,-AVX512VL,-AVX512ER,-AVX512PF,-AMX_TILE,-AMX_BF16,-AMX_INT8${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"
exec "$@"
