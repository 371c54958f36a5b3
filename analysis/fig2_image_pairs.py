"""Paper Fig. 2: ImagePairs LS metric vs paired samples on Edges2Shoes and
Cityscapes; GAN, GAN big, FactorGAN (and CoGAN once it exists); ours beside the paper's.

    python -m analysis.fig2_image_pairs --out_path out
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from analysis.collect import collect, paper_rows
from analysis.plotting import draw, figure_args, finish, setup_matplotlib


def build_parser() -> argparse.ArgumentParser:
    return figure_args(__doc__, "fig2_image_pairs")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plt = setup_matplotlib(args.usetex)
    ours = collect(args.out_path, "ImagePairs", args.runs, args.releases)
    paper = paper_rows("fig2_ls")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, dataset in zip(axes, ("edges2shoes", "cityscapes"), strict=True):
        draw(ax, [(r["Model"], float(r["Paired samples"]), float(r["LS"])) for r in paper
                  if r["Dataset"] == dataset], ours=False)
        draw(ax, [(r["model"], float(r["num_joint_samples"]), s) for r in ours
                  if r["dataset"] == dataset for s in r["ls_runs"]], ours=True)
        ax.set(xscale="log", xlabel="paired samples", ylabel="LS (higher is better)", title=dataset)
    finish(fig, axes, args.output, bool(ours), "ImagePairs (Fig. 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
