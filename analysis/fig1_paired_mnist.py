"""Paper Fig. 1: PairedMNIST FID and dependency metric vs paired samples,
for lambda 0.1 and 0.9; GAN, FactorGAN, FactorGAN-no-cp; ours beside the paper's.
Also writes the numbers as a markdown table (OUTPUT.md): per run, FID and
dependency under every evaluation classifier it was scored with, and the
paper's values.

    python -m analysis.fig1_paired_mnist --out_path out
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from analysis.collect import collect, paper_rows, paper_value
from analysis.plotting import draw, figure_args, finish, setup_matplotlib
from training.models_registry import MODELS


def score(result: dict, key: str, classifier: str | None) -> float:
    """A run's score under the named evaluation classifier (default: the run's first)."""
    if classifier is None or result.get("classifier", "ours") == classifier:
        return result[key]
    by = result.get("by_classifier", {})
    if classifier not in by:
        raise SystemExit(f"run {result['experiment']} has no scores for the {classifier!r} classifier: "
                         f"evaluate it with --eval --eval_classifier {classifier}")
    return by[classifier][key]


def markdown_table(runs: list[dict]) -> str:
    """One row per run (by lambda, paired count, model): FID and dependency
    under each evaluation classifier ("ours / reference"), the paper's beside."""
    fid, dep = paper_rows("fig1_fid"), paper_rows("fig1_dependency")
    order = list(MODELS)
    runs = sorted(runs, key=lambda r: (-float(r["lambda"]), int(r["num_joint_samples"]), order.index(r["model"])))
    by_classifier = [r.get("by_classifier") or {r.get("classifier", "ours"): r} for r in runs]
    classifiers = sorted({c for by in by_classifier for c in by}, key=lambda c: c != "ours")
    names = " / ".join(classifiers)
    lines = [f"| lambda | paired | model | FID ({names}) | paper FID | dependency ({names}) | paper dependency |",
             "|---|---|---|---|---|---|---|"]

    def scores(by: dict, key: str) -> str:
        return " / ".join(f"{by[c][key]:.{2 if key == 'fid' else 3}f}" if c in by else "-" for c in classifiers)

    for r, by in zip(runs, by_classifier, strict=True):
        lam, count, model = float(r["lambda"]), int(r["num_joint_samples"]), r["model"]
        cell = {"Model": model, "Paired samples": count, "Lambda": lam}
        lines.append(f"| {lam} | {count} | {model} | {scores(by, 'fid')} | {paper_value(fid, 'FID', cell)}"
                     f" | {scores(by, 'dependency')} | {paper_value(dep, 'Diff', cell)} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = figure_args(__doc__, "fig1_paired_mnist")
    p.add_argument("--classifier", choices=["ours", "reference"], default=None,
                   help="draw the scores of this evaluation classifier (default: each run's first)")
    args = p.parse_args(argv)
    plt = setup_matplotlib(args.usetex)
    ours = collect(args.out_path, "PairedMNIST", args.runs)
    fig, axes = plt.subplots(2, 2, figsize=(8, 6))
    panels = [("fig1_fid", "FID", "fid", "FID"), ("fig1_dependency", "Diff", "dependency", "dependency metric")]
    for row, (table, column, key, label) in enumerate(panels):
        paper = paper_rows(table)
        for col, lam in enumerate((0.1, 0.9)):
            ax = axes[row][col]
            draw(ax, [(r["Model"], float(r["Paired samples"]), float(r[column])) for r in paper
                      if float(r["Lambda"]) == lam], ours=False)
            runs = [r for r in ours if float(r["lambda"]) == lam]
            counts = {float(r["num_joint_samples"]) for r in runs}
            # a model without pairs (no-cp) is drawn at every paired count of the panel
            draw(ax, [(r["model"], x, float(score(r, key, args.classifier))) for r in runs for x in
                      ([float(r["num_joint_samples"])] if MODELS[r["model"]].uses_pairs else counts)], ours=True)
            ax.set(xscale="log", yscale="log" if key == "fid" else "linear", xlabel="paired samples",
                   ylabel=f"{label} (lower is better)", title=f"lambda = {lam}")
    finish(fig, axes.ravel(), args.output, bool(ours), "PairedMNIST (Fig. 1)", markdown_table(ours) if ours else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
