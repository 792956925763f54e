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


def find(system, **case):
    for row in rows:
        if row["system"] == system and all(row.get(k) == v for k, v in case.items()):
            return row
    return None


def cell(row, key, digits=1):
    return "-" if row is None else f"{row[key]:,.{digits}f}"


def success(row):
    return "-" if row is None else f"{100 * row['success_rate']:.0f} %"


closed = sorted(
    {(r["chars"], r["texts"], r["clients"]) for r in rows if r["mode"] == "closed"}
)
peers = [s for s in present if s != "nodefusion"]
print("Closed loop, texts/s (success rate where below 100 %), and nodefusion's ratio:\n")
print(
    "| chars | texts/request | clients | "
    + " | ".join(present)
    + " | "
    + " | ".join(f"vs {p}" for p in peers)
    + " | nodefusion tokens/s |"
)
print("| ---: | ---: | ---: | " + "---: | " * (len(present) + len(peers) + 1))
for chars, texts, clients in closed:
    found = {s: find(s, mode="closed", chars=chars, texts=texts, clients=clients) for s in present}
    cells = []
    for system in present:
        row = found[system]
        text = cell(row, "texts_per_second")
        if row is not None and row["success_rate"] < 1:
            text += f" ({success(row)})"
        cells.append(text)
    ours = found.get("nodefusion")
    for peer in peers:
        theirs = found[peer]
        if ours and theirs and theirs["texts_per_second"] > 0:
            cells.append(f"{ours['texts_per_second'] / theirs['texts_per_second']:.2f}x")
        else:
            cells.append("-")
    cells.append(cell(ours, "tokens_per_second", 0))
    print(f"| {chars} | {texts} | {clients} | " + " | ".join(cells) + " |")

print("\nClosed loop, latency p50 / p99 in ms:\n")
print("| chars | texts/request | clients | " + " | ".join(present) + " |")
print("| ---: | ---: | ---: | " + "---: | " * len(present))
for chars, texts, clients in closed:
    cells = []
    for system in present:
        row = find(system, mode="closed", chars=chars, texts=texts, clients=clients)
        cells.append("-" if row is None else f"{row['p50_ms']:,.0f} / {row['p99_ms']:,.0f}")
    print(f"| {chars} | {texts} | {clients} | " + " | ".join(cells) + " |")

opened = sorted({(r["chars"], r["texts"], r["rate"]) for r in rows if r["mode"] == "open"})
if opened:
    print(
        "\nOpen loop (requests sent at a fixed rate; latency from each request's due time), "
        "success rate and p50 / p95 / p99 in ms:\n"
    )
    print("| chars | texts/request | requests/s | " + " | ".join(present) + " |")
    print("| ---: | ---: | ---: | " + "--- | " * len(present))
    for chars, texts, rate in opened:
        cells = []
        for system in present:
            row = find(system, mode="open", chars=chars, texts=texts, rate=rate)
            cells.append(
                "-"
                if row is None
                else f"{success(row)}: {row['p50_ms']:,.0f} / {row['p95_ms']:,.0f} / "
                f"{row['p99_ms']:,.0f}"
            )
        print(f"| {chars} | {texts} | {rate:g} | " + " | ".join(cells) + " |")
