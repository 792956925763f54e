#!/usr/bin/env bash
# The Parquet compression codecs of an output, measured: the text job (pipelines/cleaning.toml:
# normalize_text -> word_count over ~200-character documents; the texts and their word counts
# written) with each codec by the release
# `nodefusion run`, on the same generated input, in one script: the median wall time of
# each run, the bytes written, and both as ratios to the default (zstd(3)). A second reader
# (pyarrow, when python3 has it; else the nodefusion CLI) reads every file back.
#
#   benches/codecs/run.sh [ROWS]      (default 1,000,000 rows, 7 runs per codec, in turns)
set -euo pipefail
cd "$(dirname "$0")/../.."

rows="${1:-1000000}"
runs=7
work="${NODEFUSION_BENCH_DIR:-/tmp/nodefusion-bench}/codecs"
mkdir -p "$work"
cargo build --release --quiet --bin nodefusion
nodefusion=target/release/nodefusion
[ -n "${CARGO_TARGET_DIR:-}" ] && nodefusion="$CARGO_TARGET_DIR/release/nodefusion"

input="$work/docs_${rows}.parquet"
[ -f "$input" ] || "$nodefusion" gen-docs --rows "$rows" --chars 200 --output "$input"
cat > "$work/text.toml" <<TOML
name = "text"
[input]
path = "$input"
[output]
path = "$work/out.parquet"
columns = ["id", "text", "words"]
mode = "overwrite"
[defaults]
partitions = 2
[[nodes]]
name = "cleaning"
pipeline = "$PWD/pipelines/cleaning.toml"
TOML

codecs=("zstd(3)" "zstd(1)" snappy lz4_raw uncompressed)
times="$work/times.txt"
: > "$times"
# The codecs take turns, run after run, so that the machine's drift touches them alike.
for _ in $(seq "$runs"); do
    for codec in "${codecs[@]}"; do
        started=$(date +%s%N)
        "$nodefusion" run "$work/text.toml" --set "output.compression=\"$codec\"" >/dev/null
        echo "$codec $(( ($(date +%s%N) - started) / 1000000 ))" >> "$times"
        cp "$work/out.parquet" "$work/out-$codec.parquet"
    done
done
results="$work/results.txt"
: > "$results"
for codec in "${codecs[@]}"; do
    median=$(grep -F "$codec " "$times" | cut -d' ' -f2 | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    file="$work/out-$codec.parquet"
    if python3 -c "import pyarrow" 2>/dev/null; then
        read_back=$(python3 -c "import pyarrow.parquet as pq, sys; print(pq.read_metadata(sys.argv[1]).num_rows)" "$file")
    else
        read_back=$("$nodefusion" sql "SELECT count(*) FROM '$file'" | grep -o '[0-9]\+' | tail -1)
    fi
    [ "$read_back" = "$rows" ] || { echo "$codec: read back $read_back rows of $rows" >&2; exit 1; }
    echo "$codec $median $(stat -c %s "$file")" >> "$results"
done

python3 - "$results" "$rows" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
base_time, base_bytes = float(rows[0][1]) / 1000, int(rows[0][2])  # the default, first
print(f"\nthe text job, {int(sys.argv[2]):,} rows of ~200 characters, median of 7 runs")
print("| codec | wall time | vs zstd(3) | bytes | vs zstd(3) |")
print("| --- | ---: | ---: | ---: | ---: |")
for codec, seconds, size in rows:
    seconds, size = float(seconds) / 1000, int(size)
    print(f"| {codec} | {seconds:.2f} s | {seconds / base_time:.2f}x | {size / 1e6:.1f} MB | {size / base_bytes:.2f}x |")
PY
