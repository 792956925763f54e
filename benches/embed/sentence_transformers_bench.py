"""The Python side of benches/embed/compare.sh: sentence-transformers on PyTorch CPU over the
texts `cargo bench --bench embed` wrote, at the same batch sizes, with the same number of
threads; prints one JSON line per figure.

    python sentence_transformers_bench.py BENCH_DIR [quick]
"""
import json
import os
import statistics
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

bench_dir = sys.argv[1]
quick = "quick" in sys.argv[2:]
torch.set_num_threads(os.cpu_count() or 1)
models = os.environ.get("NODEFUSION_MODELS") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nodefusion", "models"
)
model = SentenceTransformer(
    os.path.join(models, "sentence-transformers", "all-MiniLM-L6-v2"), device="cpu"
)
runs = 1 if quick else 3

for texts_name, batch_sizes in [
    ("500_chars", [1, 8, 32, 64, 128]),
    ("2000_chars", [1, 8, 32, 64, 128]),
    ("mixed", [32]),
]:
    with open(os.path.join(bench_dir, f"embed_{texts_name}.json")) as file:
        texts = json.load(file)
    model.encode(texts[:8], batch_size=8)
    for batch_size in batch_sizes:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            model.encode(texts, batch_size=batch_size, convert_to_numpy=True)
            times.append(time.perf_counter() - started)
        print(
            json.dumps(
                {
                    "system": "sentence-transformers",
                    "texts": texts_name,
                    "batch_size": batch_size,
                    "texts_per_second": round(len(texts) / statistics.median(times), 2),
                }
            ),
            flush=True,
        )
