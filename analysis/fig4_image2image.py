"""Paper Fig. 4: Cityscapes photo -> segmentation, pixel accuracy and MSE vs
paired samples; GAN, FactorGAN, CycleGAN (and pix2pix, photo-blind baselines
of ours); ours beside the paper's. Also writes the numbers as markdown
(OUTPUT.md): per run and per photo-blind baseline, pixel accuracy, mean class
accuracy, mean IoU and MSE beside the paper's; then the IoU of every class.

    python -m analysis.fig4_image2image --out_path out
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from analysis.collect import collect, paper_rows, paper_value
from analysis.plotting import draw, figure_args, finish, number, setup_matplotlib
from training.models_registry import MODELS

# (results.json key, column title, decimals)
SCORES = (("accuracy", "pixel acc. %", 1), ("mean_class_accuracy", "mean class acc. %", 1),
          ("mean_iou", "mean IoU %", 1), ("mse", "MSE", 4))


def markdown_tables(runs: list[dict]) -> str:
    """Two markdown tables: one row per run, then per photo-blind baseline (from
    the first run that has them: they depend on the training maps and the image
    size only), with the paper's accuracy and MSE; then the IoU of each class
    (rows) for each run and baseline (columns). Scores a run lacks show "-"."""
    paper = paper_rows("fig4_cityscapes")
    baselines = next((r["baselines"] for r in runs if r.get("baselines")), {})
    rows = [(r["experiment"], r["model"], int(r["num_joint_samples"]), r) for r in runs]
    rows += [(name, name, 0, scores) for name, scores in baselines.items()]

    lines = ["| run | model | paired | " + " | ".join(title for _, title, _ in SCORES)
             + " | paper acc. % | paper MSE |", "|---" * (len(SCORES) + 5) + "|"]
    for name, model, count, scores in rows:
        values = " | ".join(number(scores.get(key), f".{decimals}f") for key, _, decimals in SCORES)
        # the paper lists a model without pairs (CycleGAN) at 0 paired samples
        cell = {"Model": model, "Paired samples": count if model in MODELS and MODELS[model].uses_pairs else 0}
        lines.append(f"| {name} | {model} | {count or '-'} | {values} | "
                     f"{paper_value(paper, 'Perf', {**cell, 'Metric': 'Accuracy'})} | "
                     f"{paper_value(paper, 'Perf', {**cell, 'Metric': 'MSE'})} |")
    classes = list(next((s["per_class"] for *_, s in rows if s.get("per_class")), {}))
    if classes:
        lines += ["", "IoU % per class:", "", "| class | " + " | ".join(name for name, *_ in rows) + " |",
                  "|---" * (len(rows) + 1) + "|"]
        for c in classes:
            ious = (number(s.get("per_class", {}).get(c, {}).get("iou"), ".1f") for *_, s in rows)
            lines.append(f"| {c} | " + " | ".join(ious) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    return figure_args(__doc__, "fig4_image2image")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plt = setup_matplotlib(args.usetex)
    ours = collect(args.out_path, "Image2Image", args.runs, args.releases)
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
    title = "Image2Image, Cityscapes (Fig. 4)"
    finish(fig, axes, args.output, bool(ours), title, markdown_tables(ours) if ours else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
