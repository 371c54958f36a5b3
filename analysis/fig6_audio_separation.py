"""Paper Fig. 6: median SDR of vocals and accompaniment vs paired songs;
GAN and FactorGAN; ours beside the paper's.

    python -m analysis.fig6_audio_separation --out_path out
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from analysis.collect import collect, paper_rows
from analysis.plotting import draw, figure_args, finish, setup_matplotlib


def build_parser() -> argparse.ArgumentParser:
    p = figure_args(__doc__, "fig6_audio_separation")
    p.add_argument("--window", choices=["15s", "1s"], default="15s", help="SDR window of our numbers")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plt = setup_matplotlib(args.usetex)
    ours = collect(args.out_path, "AudioSeparation", args.runs, args.releases)
    paper = paper_rows("fig6_sdr")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, source in zip(axes, ("Vocals", "Accompaniment"), strict=True):
        draw(ax, [(r["Model"], float(r["Songs"]), float(r["Median SDR"])) for r in paper
                  if r["Source"] == source], ours=False)
        draw(ax, [(r["model"], float(r["num_joint_songs"]), r["sdr"][args.window][source.lower()]["median"])
                  for r in ours], ours=True)
        ax.set(xlabel="paired songs", ylabel="median SDR in dB (higher is better)", title=source)
    finish(fig, axes, args.output, bool(ours), f"AudioSeparation (Fig. 6), our SDR windows {args.window}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
