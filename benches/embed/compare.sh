#!/usr/bin/env bash
# embed against Python sentence-transformers (PyTorch, CPU) on the same texts, same machine,
# same run: texts/s for 500- and 2,000-character texts at batch sizes 1..128 and for a
# mixed-length corpus, in each arithmetic the CPU has, and the ratio nodefusion /
# sentence-transformers.
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
# The other arithmetics the bench ran (`nodefusion-int16`, `nodefusion-fp32`), per core.
others = sorted({r["system"] for r in rows} - {"nodefusion", "nodefusion-1-instance", "sentence-transformers"})
names = [system.removeprefix("nodefusion-") for system in others]
print("\n| texts | batch | nodefusion (instance per core) | nodefusion (one instance) | "
      + "".join(f"nodefusion {name} (instance per core) | " for name in names)
      + "sentence-transformers | ratio | " + "".join(f"ratio {name} | " for name in names).rstrip())
print("| --- | ---: | ---: | ---: | " + ("---: | " * (2 * len(names) + 2)).rstrip())
best = {}
for (system, texts, batch), ours in figures.items():
    if system != "nodefusion":
        continue
    single = figures.get(("nodefusion-1-instance", texts, batch))
    theirs = figures.get(("sentence-transformers", texts, batch))
    other = [figures.get((system, texts, batch)) for system in others]
    ratios = [f"{rate / theirs:.2f}x" if theirs and rate else "-" for rate in [ours] + other]
    cells = [f"{ours:.1f}", single or "-"] + [rate or "-" for rate in other] + [theirs or "-"] + ratios
    print(f"| {texts} | {batch} | " + " | ".join(str(cell) for cell in cells) + " |")
for (system, texts, batch), rate in figures.items():
    best[(system, texts)] = max(best.get((system, texts), 0), rate)
print("\nbest batch size of each (the issue's goal): texts, nodefusion, sentence-transformers, ratio")
for (system, texts), rate in best.items():
    theirs = best.get(("sentence-transformers", texts))
    if system in ["nodefusion"] + others and theirs:
        print(f"  {texts} ({system}): {rate:.1f} vs {theirs:.1f} texts/s: {rate / theirs:.2f}x")
PY
