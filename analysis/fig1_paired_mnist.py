"""Paper Fig. 1: PairedMNIST FID and dependency metric vs paired samples,
for lambda 0.1 and 0.9; GAN, FactorGAN, FactorGAN-no-cp; ours beside the paper's.

    python -m analysis.fig1_paired_mnist --out_path out
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from analysis.collect import collect, paper_rows
from analysis.plotting import draw, figure_args, finish, setup_matplotlib


def main(argv: Sequence[str] | None = None) -> int:
    args = figure_args(__doc__, "fig1_paired_mnist").parse_args(argv)
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
            draw(ax, [(r["model"], float(r["num_joint_samples"]), float(r[key])) for r in ours
                      if float(r["lambda"]) == lam], ours=True)
            ax.set(xscale="log", yscale="log" if key == "fid" else "linear", xlabel="paired samples",
                   ylabel=f"{label} (lower is better)", title=f"lambda = {lam}")
    finish(fig, axes.ravel(), args.output, bool(ours), "PairedMNIST (Fig. 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
