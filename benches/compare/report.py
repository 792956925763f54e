"""Regenerates BENCHMARKS.md and the charts (PNG, matplotlib) from benches/results/*.json,
the files benches/compare/harness.py writes, one per workload.

    python report.py [RESULTS_DIR [MARKDOWN]]
"""

import json
import math
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

ROOT = Path(__file__).resolve().parents[2]
ORDER = ["overhead", "text", "builtins", "text_builtins", "stateful", "batch_size", "io", "embed",
         "cluster", "py_overhead", "py_batch", "py_stateful", "py_cpu"]


def seconds_text(value):
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def rate_text(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def ok_results(case):
    return {name: result for name, result in case["results"].items() if result["status"] == "ok"}


def save(figure, legend_axis, document, path):
    """Adds the legend and title, writes the PNG and frees the figure."""
    legend_axis.legend(fontsize=8)
    figure.suptitle(document["title"])
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def draw_lines(document, path):
    chart = document["chart"]
    panels = sorted({case["request"][chart["panel"]] for case in document["cases"]},
                    key=lambda value: (value is None, str(value) if isinstance(value, str) else value))
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for axis, panel in zip(axes[0], panels):
        for system in document["systems"]:
            points = sorted(
                (case["request"][chart["x"]], ok_results(case)[system][chart["y"] if chart["y"] == "rate" else "median"])
                for case in document["cases"]
                if case["request"][chart["panel"]] == panel and system in ok_results(case)
            )
            if points:
                axis.plot(*zip(*points), marker="o", label=system)
        axis.set_xscale("log")
        xs = sorted({case["request"][chart["x"]] for case in document["cases"]
                     if case["request"][chart["panel"]] == panel})
        axis.set_xticks(xs, [f"{x:,}" for x in xs])
        axis.minorticks_off()
        if chart["y"] == "seconds":
            axis.set_yscale("log")
        axis.set_xlabel(chart["x"].replace("_", " "))
        axis.set_ylabel("median seconds" if chart["y"] == "seconds" else f"{document['unit']}/s")
        axis.set_title(f"{chart['panel'].replace('_', ' ')}: {panel:,}" if isinstance(panel, int)
                       else f"{chart['panel']}: {panel}")
        axis.grid(True, which="both", alpha=0.3)
    save(figure, axes[0][0], document, path)


def draw_bars(document, path):
    cases = document["cases"]
    systems = [s for s in document["systems"] if any(s in ok_results(case) for case in cases)]
    width = 0.8 / max(1, len(systems))
    figure, axis = plt.subplots(figsize=(max(6, 1.8 * len(cases) + 2), 4))
    for index, system in enumerate(systems):
        xs, ys = [], []
        for position, case in enumerate(cases):
            result = ok_results(case).get(system)
            if result:
                xs.append(position + (index - (len(systems) - 1) / 2) * width)
                ys.append(result["median"])
        axis.bar(xs, ys, width, label=system)
    medians = [r["median"] for case in cases for r in ok_results(case).values()]
    if medians and max(medians) / min(medians) > 30:
        axis.set_yscale("log")
    axis.set_xticks(range(len(cases)), [case["label"] for case in cases], fontsize=8)
    axis.set_ylabel("median seconds")
    axis.grid(True, axis="y", alpha=0.3)
    save(figure, axis, document, path)


def case_table(document, case):
    unit = document["unit"]
    latency = any("latency_p50" in r for r in ok_results(case).values())
    header = f"| system | median | spread (min-max) | {unit}/s | time vs nodefusion | peak memory |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: |"
    if latency:
        header += " batch p50 | batch p95 |"
        rule += " ---: | ---: |"
    lines = [f"**{case['label']}**", "", header, rule]
    for system in document["systems"]:
        result = case["results"].get(system)
        if result is None:
            continue
        if result["status"] != "ok":
            lines.append(f"| {system} | {result['status']}: {result['reason']} |" + " |" * (5 + 2 * latency))
            continue
        ratio = result.get("vs_nodefusion")
        memory = result.get("peak_memory_mb")
        row = (
            f"| {system} | {seconds_text(result['median'])} | {result['spread'] * 100:.0f} % "
            f"({seconds_text(result['min'])}-{seconds_text(result['max'])}) | "
            f"{rate_text(result['rate'])} | {f'{ratio:.2f}x' if ratio else '-'} | "
            f"{f'{memory:,.0f} MB' if memory else '-'} |"
        )
        if latency:
            row += f" {seconds_text(result['latency_p50'])} | {seconds_text(result['latency_p95'])} |"
        lines.append(row)
    return "\n".join(lines)


def geometric_means(document):
    """Per system: the geometric mean of its time over nodefusion's, over the cases both ran."""
    ratios = {}
    for case in document["cases"]:
        for system, result in ok_results(case).items():
            if system != "nodefusion" and result.get("vs_nodefusion"):
                ratios.setdefault(system, []).append(result["vs_nodefusion"])
    return {
        system: (math.exp(sum(map(math.log, values)) / len(values)), len(values))
        for system, values in ratios.items()
    }


GENERATED_START = "<!-- generated by benches/compare/run.sh from benches/results: edit the harness, not this part -->"
GENERATED_END = "<!-- end of the generated part -->"


def write(results_dir, markdown):
    results_dir = Path(results_dir)
    documents = [
        json.loads((results_dir / f"{name}.json").read_text())
        for name in ORDER
        if (results_dir / f"{name}.json").exists()
    ]
    lines = [
        "Generated by `benches/compare/run.sh`: every seed workload on nodefusion and on "
        "each Python peer that can express "
        "it, from the same generated inputs, in one run, on one machine. Each figure is the "
        "median of the repeats after a warm-up, the systems taking turns; every answer was "
        "checked against nodefusion's (row counts and a checksum of the output) before its "
        "time was counted. *time vs nodefusion* is the system's median over nodefusion's: "
        "above 1, nodefusion is faster. Peak memory is the process's high-water mark (the "
        "interpreter and libraries included). Absolute times do not transfer between machines; "
        "ratios and the shapes of the curves do.",
        "",
        "`benches/compare/run.sh --setup` once (creates the pinned Python environment), then "
        "`benches/compare/run.sh [--quick] [--only WORKLOAD]`.",
        "",
        "## Summary",
        "",
        "Geometric mean over the cases both ran of the system's time over nodefusion's "
        "(`nodefusion-sql`, `nodefusion-planned` and `nodefusion-compiled` are nodefusion too: "
        "the overhead chain written as SQL expression nodes instead of Rust closures, planned "
        "for every run instead of finding its kept plan, and compiled once and run again; in "
        "the `py_*` workloads, nodefusion is its Python package and `nodefusion-kept` one "
        "Python pipeline run again, its nodes' instances kept):",
        "",
        "| workload | system | time vs nodefusion | cases |",
        "| --- | --- | ---: | ---: |",
    ]
    for document in documents:
        for system, (mean, count) in sorted(geometric_means(document).items(), key=lambda i: i[1][0]):
            lines.append(f"| {document['workload']} | {system} | {mean:.2f}x | {count} |")
    for document in documents:
        machine = document["machine"]
        chart = results_dir / f"{document['workload']}.png"
        (draw_lines if document["chart"]["kind"] == "lines" else draw_bars)(document, chart)
        packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items() if version)
        lines += [
            "",
            f"## {document['title']}",
            "",
            document["what"],
            "",
            f"Run {document['date']} ({'quick' if document['quick'] else 'full'} mode, "
            f"{document['repeats']} repeats after a warm-up, {document['wall_seconds']:.0f} s in "
            f"all) on {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, "
            f"{machine['os']}; nodefusion {machine['nodefusion_commit']} ({machine['rustc']}); "
            f"Python {machine['python']}: {packages}. "
            f"`benches/compare/run.sh --only {document['workload']}`",
            "",
            f"![{document['title']}]({os.path.relpath(chart, markdown.parent)})",
            "",
        ]
        lines += [case_table(document, case) + "\n" for case in document["cases"]]
    generated = "\n".join(lines).rstrip() + "\n"
    # Only the part between the markers is the harness's; what stands around it is kept.
    existing = markdown.read_text() if markdown.exists() else ""
    if GENERATED_START in existing and GENERATED_END in existing:
        before = existing[: existing.index(GENERATED_START)]
        after = existing[existing.index(GENERATED_END) + len(GENERATED_END):]
    else:
        before, after = "# Benchmarks\n\n", "\n"
    markdown.write_text(before + GENERATED_START + "\n" + generated + GENERATED_END + after)


if __name__ == "__main__":
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benches" / "results"
    write(directory, Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "BENCHMARKS.md")
