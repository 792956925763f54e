#!/usr/bin/env bash
# Peak memory (RSS) of `nodefusion run` as the input grows: the text pipeline
# (pipelines/cleaning.toml writing id, clean_text and words) at 1M, 10M and 30M documents
# (30M: about 33 GB of text, more than this machine's memory), and the embed pipeline
# (pipelines/embed_passages.toml) at 1k, 10k and 30k documents. Default settings. Prints a
# Markdown table for BENCHMARKS.md.
#
#   benches/memory/peak_rss.sh [--quick] [WORK_DIR]
#
# --quick: 100k / 1M / 3M documents and 300 / 3k / 9k passages. WORK_DIR (default
# /tmp/nodefusion-memory) holds the generated inputs: tens of GB in the full run.
set -euo pipefail
cd "$(dirname "$0")/../.."

text_rows=(1000000 10000000 30000000)
embed_rows=(1000 10000 30000)
if [[ "${1:-}" == "--quick" ]]; then
    shift
    text_rows=(100000 1000000 3000000)
    embed_rows=(300 3000 9000)
fi
work="${1:-/tmp/nodefusion-memory}"
mkdir -p "$work"

cargo build --release --quiet
nodefusion="${CARGO_TARGET_DIR:-target}/release/nodefusion"

# Runs `nodefusion run ARGS...` and prints its peak RSS in MiB and its wall time in s.
peak() {
    /usr/bin/time -f "%M %e" -o "$work/time.txt" "$nodefusion" run "$@" --quiet >/dev/null
    read -r kib seconds <"$work/time.txt"
    echo "$((kib / 1024)) $seconds"
}

# Generates ROWS documents once, into $work/docs-ROWS.parquet.
docs() {
    local file="$work/docs-$1.parquet"
    [[ -f "$file" ]] || "$nodefusion" gen-docs --rows "$1" --seed 42 --output "$file" >/dev/null
    echo "$file"
}

echo "| pipeline | documents | input on disk | peak RSS | wall time |"
echo "| --- | ---: | ---: | ---: | ---: |"
for rows in "${text_rows[@]}"; do
    input=$(docs "$rows")
    read -r mib seconds < <(peak pipelines/cleaning.toml --input "$input" \
        --output "$work/clean.parquet" --set 'output.mode="overwrite"' \
        --set 'output.columns=["id", "clean_text", "words"]')
    size=$(du -m "$input" | cut -f1)
    echo "| text (normalize_text, word_count) | $rows | ${size} MiB | ${mib} MiB | ${seconds} s |"
done
for rows in "${embed_rows[@]}"; do
    input=$(docs "$rows")
    read -r mib seconds < <(peak pipelines/embed_passages.toml --input "$input" \
        --output "$work/passages.parquet")
    size=$(du -m "$input" | cut -f1)
    echo "| embed (400-character passages) | $rows | ${size} MiB | ${mib} MiB | ${seconds} s |"
done
rm -f "$work/clean.parquet" "$work/passages.parquet" "$work/time.txt"
