"""The benchmark's plot: load time against rows, ours, the batch_writer peer and the per-key baseline, log-log.

    python -m bench.plot [bench/results.json] [bench/load_time.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent

SERIES = (
    ("baseline", "baseline: one PutItem per key, sequential", "tab:red", "s"),
    ("peer", "peer: csv.DictReader + boto3 batch_writer", "tab:orange", "D"),
    ("full", "loader: full load (empty table)", "tab:blue", "o"),
)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    sizes = sorted(report["sizes"], key=lambda size: size["rows"])
    rows = [size["rows"] for size in sizes]
    figure, axes = plt.subplots(figsize=(8, 5.2), dpi=110)
    for kind, label, colour, marker in SERIES:
        seconds = [size["runs"][kind]["wallSeconds"] for size in sizes]
        axes.plot(rows, seconds, marker=marker, color=colour, label=label, linewidth=1.6)
    for size in sizes:
        axes.annotate(
            f"{size['speedup']:.0f}x baseline, {size['overPeer']:.1f}x peer\n{size['keys']:,} keys",
            xy=(size["rows"], size["runs"]["full"]["wallSeconds"]),
            xytext=(9, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=8,
            color="tab:blue",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(rows, [f"{count:,}" for count in rows])
    axes.minorticks_off()
    axes.set_xlabel("CSV rows")
    axes.set_ylabel("wall time of the load, seconds (log)")
    machine = report["machine"]
    axes.set_title(
        f"Loader vs batch_writer peer vs per-key baseline, {report['latencyMs']:g} ms per request\n"
        f"{report.get('emulator', 'moto server')} on loopback\n"
        f"{machine['cpus']} CPUs {machine['cpuModel']}, Python {machine['python']}",
        fontsize=10,
    )
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    low = min(size["runs"]["full"]["wallSeconds"] for size in sizes)
    high = max(size["runs"]["baseline"]["wallSeconds"] for size in sizes)
    axes.set_ylim(low / 3, high * 2)
    axes.set_xlim(rows[0] / 2, rows[-1] * 4)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str]) -> None:
    results = Path(argv[0]) if argv else BENCH_DIR / "results.json"
    out = Path(argv[1]) if len(argv) > 1 else BENCH_DIR / "load_time.png"
    plot(json.loads(results.read_text()), out)
    print(f"plot: {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
