"""The tables of BENCHMARKS.md's embedding-service section, from the JSON lines the load
generator wrote (benches/serve/run.sh): closed-loop throughput and latency per configuration,
nodefusion's ratios to each peer, and open-loop latency per request rate.

    python report.py SERVE_JSONL
"""
import json
import sys

SYSTEMS = ["nodefusion", "sentence-transformers", "infinity"]

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
present = [s for s in SYSTEMS if any(r["system"] == s for r in rows)]
peers = [s for s in present if s != "nodefusion"]


def find(system, **case):
    for row in rows:
        if row["system"] == system and all(row.get(k) == v for k, v in case.items()):
            return row
    return None


def success(row):
    return f"{100 * row['success_rate']:.0f} %"


def throughput(row):
    text = f"{row['texts_per_second']:,.1f}"
    return text if row["success_rate"] >= 1 else f"{text} ({success(row)})"


def latency(row):
    return f"{row['p50_ms']:,.0f} / {row['p99_ms']:,.0f}"


def open_latency(row):
    return f"{success(row)}: {row['p50_ms']:,.0f} / {row['p95_ms']:,.0f} / {row['p99_ms']:,.0f}"


def table(title, keys, cases, mode, columns):
    """Prints a table: one row per case (the values of `keys`), one column per (name, cell)
    of `columns`, where cell(found) gives the text from the rows found for each system."""
    print(f"\n{title}\n")
    print("| " + " | ".join(keys + [name for name, _ in columns]) + " |")
    print("| " + "---: | " * len(keys) + " | ".join("---" for _ in columns) + " |")
    for case in cases:
        found = {s: find(s, mode=mode, **dict(zip(keys, case))) for s in present}
        cells = [str(value) for value in case] + [cell(found) for _, cell in columns]
        print("| " + " | ".join(cells) + " |")


def per_system(show):
    return [(s, lambda found, s=s: "-" if found[s] is None else show(found[s])) for s in present]


def ratio(peer):
    def cell(found):
        ours, theirs = found.get("nodefusion"), found[peer]
        if ours and theirs and theirs["texts_per_second"] > 0:
            return f"{ours['texts_per_second'] / theirs['texts_per_second']:.2f}x"
        return "-"

    return (f"vs {peer}", cell)


closed_keys = ["chars", "texts", "clients"]
closed = sorted({tuple(r[k] for k in closed_keys) for r in rows if r["mode"] == "closed"})
table(
    "Closed loop, texts/s (success rate where below 100 %) and nodefusion's ratio:",
    closed_keys,
    closed,
    "closed",
    per_system(throughput)
    + [ratio(peer) for peer in peers]
    + [("nodefusion tokens/s", lambda f: "-" if f.get("nodefusion") is None
        else f"{f['nodefusion']['tokens_per_second']:,.0f}")],
)
table("Closed loop, latency p50 / p99 in ms:", closed_keys, closed, "closed", per_system(latency))
open_keys = ["chars", "texts", "rate"]
opened = sorted({tuple(r[k] for k in open_keys) for r in rows if r["mode"] == "open"})
if opened:
    table(
        "Open loop (requests sent at a fixed rate per second; latency from each request's due "
        "time): success rate, p50 / p95 / p99 in ms:",
        open_keys,
        opened,
        "open",
        per_system(open_latency),
    )
