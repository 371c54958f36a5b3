"""Paper Fig. 4: Cityscapes photo -> segmentation, pixel accuracy and MSE vs
paired samples; GAN, FactorGAN, CycleGAN (and pix2pix, photo-blind baselines
of ours); ours beside the paper's.

    python -m analysis.fig4_image2image --out_path out
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from analysis.collect import collect, paper_rows
from analysis.plotting import draw, figure_args, finish, setup_matplotlib


def main(argv: Sequence[str] | None = None) -> int:
    args = figure_args(__doc__, "fig4_image2image").parse_args(argv)
    plt = setup_matplotlib(args.usetex)
    ours = collect(args.out_path, "Image2Image", args.runs)
    paper = paper_rows("fig4_cityscapes")
    counts = sorted({float(r["Paired samples"]) for r in paper if float(r["Paired samples"]) > 0})
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, (metric, key, better) in zip(axes, (("Accuracy", "accuracy", "higher"), ("MSE", "mse", "lower")),
                                         strict=True):
        rows = [r for r in paper if r["Metric"] == metric]
        # CycleGAN uses no pairs: a flat line across the paired counts
        points = [(r["Model"], x, float(r["Perf"])) for r in rows if r["Model"] == "CycleGAN" for x in counts]
        points += [(r["Model"], float(r["Paired samples"]), float(r["Perf"])) for r in rows if r["Model"] != "CycleGAN"]
        draw(ax, points, ours=False)
        mine = [(r["model"], float(r["num_joint_samples"]), r[key]) for r in ours]
        mine += [(name, float(r["num_joint_samples"]), b[key]) for r in ours for name, b in r["baselines"].items()]
        draw(ax, mine, ours=True)
        ax.set(xscale="log", xlabel="paired samples", ylabel=f"{metric} ({better} is better)")
    finish(fig, axes, args.output, bool(ours), "Image2Image, Cityscapes (Fig. 4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
