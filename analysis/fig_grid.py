"""The four-digit grids (PairedMNIST --layout 2x2, issue 36): FID and both
dependency metrics per factorisation vs the number of columns observed alone,
mean +- sd over the runs (seeds) of each cell, the real grids' floor as a
grey line; writes the same numbers as a markdown table beside the PNG (.md).

    python -m analysis.fig_grid --out_path out [--runs '*_lambda0.9_mu0.9*'] [--classifier ours]
    python -m analysis.fig_grid --campaign grid_2x2      # every seed recorded in the campaign's ledger
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from analysis.collect import collect
from analysis.ledger import ledger_results
from analysis.plotting import draw, figure_args, finish, number, setup_matplotlib

# score -> axis label
PANELS = {"fid": "FID (mean of 4 positions)", "dependency_within": "dependency within a column",
          "dependency_between": "dependency between upper digits"}
ORDER = ("joint", "flat", "hierarchical", "autoregressive")


def scores(result: dict[str, Any], classifier: str | None) -> dict[str, Any]:
    """A run's scores under the classifier recipe (default: the run's first)."""
    if classifier is None or classifier == result.get("classifier"):
        return result
    return result.get("by_classifier", {}).get(classifier, {})


def cells(rows: Sequence[dict[str, Any]], classifier: str | None) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """(factorisation, columns alone) -> the scores of its runs (2x2 runs only)."""
    out: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        s = scores(r, classifier)
        if r.get("layout") == "2x2" and "fid" in s:
            out[(r["factorisation"], int(r["num_column_samples"]))].append(s)
    return out


def _mean_sd(values: Sequence[float]) -> str:
    """mean ± sd; the mean alone for one value or values equal to rounding (the floor of shared grids)."""
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return number(mean, ".3g") + (f" ± {sd:.2g}" if sd > 1e-6 * abs(mean) else "")


def table(grouped: dict[tuple[str, int], list[dict[str, Any]]]) -> str:
    """A markdown table: one row per cell, mean ± sd over its runs, and the floor."""
    lines = ["| factorisation | columns alone | runs | " + " | ".join(PANELS) + " |",
             "|---|---|---|" + "---|" * len(PANELS)]
    key = sorted(grouped, key=lambda c: (ORDER.index(c[0]) if c[0] in ORDER else len(ORDER), c[1]))
    for fac, cols in key:
        runs = grouped[(fac, cols)]
        lines.append(f"| {fac} | {cols} | {len(runs)} | "
                     + " | ".join(_mean_sd([r[m] for r in runs]) for m in PANELS) + " |")
    floors = [r["floor"] for runs in grouped.values() for r in runs if "floor" in r]
    if floors:
        lines.append("| real training grids (floor) | - | - | "
                     + " | ".join(_mean_sd([f[m] for f in floors]) for m in PANELS) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = figure_args(__doc__, "fig_grid")
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps the example line
    p.add_argument("--classifier", default=None,
                   help="evaluation classifier recipe whose scores to draw (default: each run's first)")
    p.add_argument("--campaign", default=None,
                   help="draw a campaign's ledger (campaigns/NAME.results.jsonl; several seeds per cell) "
                        "instead of the runs under --out_path")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = (ledger_results(args.campaign, args.runs) if args.campaign
            else collect(args.out_path, "PairedMNIST", args.runs, args.releases))
    grouped = cells(rows, args.classifier)
    plt = setup_matplotlib(args.usetex)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(11, 3.4))
    for ax, (metric, label) in zip(axes, PANELS.items(), strict=True):
        draw(ax, [(fac, float(cols), r[metric]) for (fac, cols), runs in grouped.items() for r in runs], ours=True)
        floors = [r["floor"][metric] for runs in grouped.values() for r in runs if "floor" in r]
        if floors:
            ax.axhline(statistics.mean(floors), color="gray", linestyle=":", label="real grids (floor)")
        ax.set_xscale("symlog", linthresh=100)
        columns = sorted({cols for _, cols in grouped})
        if columns:  # the counts run, with room either side for the markers and error bars
            ax.set_xticks(columns, [str(c) for c in columns])
            ax.set_xlim(-30, max(2 * columns[-1], 30))
        ax.set_xlabel("columns observed alone")
        ax.set_ylabel(label)
    text = table(grouped)
    print(text, end="")
    finish(fig, axes, args.output, bool(grouped), "PairedMNIST 2x2 grids (mean ± sd over seeds)", table=text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
