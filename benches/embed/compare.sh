#!/usr/bin/env bash
# embed against Python sentence-transformers (PyTorch, CPU) on the same texts, same machine,
# same run: texts/s for 500- and 2,000-character texts at batch sizes 1..128 and for a
# mixed-length corpus, and the ratio nodefusion / sentence-transformers.
#
#   benches/embed/compare.sh [--setup] [quick]
#
# --setup creates the virtual environment ($NODEFUSION_BENCH_VENV, default
# target/bench-venv) with sentence-transformers first.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${NODEFUSION_BENCH_VENV:-target/bench-venv}"
quick=()
for argument in "$@"; do
    case "$argument" in
        --setup)
            python3 -m venv "$venv"
            "$venv/bin/pip" install --quiet --progress-bar off "sentence-transformers==6.2.0"
            ;;
        quick) quick=(quick) ;;
        *) echo "unknown argument $argument" >&2; exit 2 ;;
    esac
done
if [ ! -x "$venv/bin/python" ]; then
    echo "no virtual environment at $venv: run with --setup" >&2
    exit 1
fi

export NODEFUSION_BENCH_DIR="${NODEFUSION_BENCH_DIR:-/tmp/nodefusion-bench}"
results="$NODEFUSION_BENCH_DIR/embed_results.jsonl"
mkdir -p "$NODEFUSION_BENCH_DIR"
cargo run --quiet -- model pull >/dev/null
cargo bench --quiet --bench embed -- "${quick[@]}" | tee "$NODEFUSION_BENCH_DIR/embed_nodefusion.txt"
grep '^{' "$NODEFUSION_BENCH_DIR/embed_nodefusion.txt" > "$results"
"$venv/bin/python" benches/embed/sentence_transformers_bench.py "$NODEFUSION_BENCH_DIR" "${quick[@]}" >> "$results"

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
figures = {(r["system"], r["texts"], r["batch_size"]): r["texts_per_second"] for r in rows}
print("\n| texts | batch | nodefusion (instance per core) | nodefusion (one instance) | nodefusion fp32 (instance per core) | sentence-transformers | ratio | ratio fp32 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
best = {}
for (system, texts, batch), ours in figures.items():
    if system != "nodefusion":
        continue
    single = figures.get(("nodefusion-1-instance", texts, batch))
    fp32 = figures.get(("nodefusion-fp32", texts, batch))
    theirs = figures.get(("sentence-transformers", texts, batch))
    ratio = f"{ours / theirs:.2f}x" if theirs else "-"
    ratio_fp32 = f"{fp32 / theirs:.2f}x" if theirs and fp32 else "-"
    print(f"| {texts} | {batch} | {ours:.1f} | {single if single else '-'} | {fp32 if fp32 else '-'} | {theirs if theirs else '-'} | {ratio} | {ratio_fp32} |")
for (system, texts, batch), rate in figures.items():
    best[(system, texts)] = max(best.get((system, texts), 0), rate)
print("\nbest batch size of each (the issue's goal): texts, nodefusion, sentence-transformers, ratio")
for (system, texts), rate in best.items():
    theirs = best.get(("sentence-transformers", texts))
    if system in ("nodefusion", "nodefusion-fp32") and theirs:
        print(f"  {texts} ({system}): {rate:.1f} vs {theirs:.1f} texts/s: {rate / theirs:.2f}x")
PY
