"""Image2Image validation curves of runs trained with --eval_every: pixel
accuracy and mean IoU on the fixed validation subset vs generator update, one
line per run, and the photo-blind baselines as horizontal lines; prints the
update at which each run's pixel accuracy first passes the per-pixel prior,
and writes the curves' values as a markdown table beside the PNG (.md).

The baselines come from the runs' results.json, written when a run finishes:
``val_subset.baselines`` (the same images as the curves; runs with
--eval_every), else ``baselines`` (the whole validation set); the legend says
which. They depend only on the training maps and the images, so the first
run, in name order, that has them gives the lines: draw runs of one --loadSize
and --eval_subset together (select them with --runs).

    python -m analysis.fig_i2i_curves --out_path out --runs '*_25joint*'
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.plotting import COLOURS, figure_args, finish, number, setup_matplotlib

# (key in metrics.jsonl, key in results.json, axis label)
PANELS = (("val/pixel_accuracy", "accuracy", "pixel accuracy (%)"), ("val/mean_iou", "mean_iou", "mean IoU (%)"))


def read_curves(run: Path) -> dict[str, list[tuple[int, float]]]:
    """A run's metrics.jsonl -> val/ key -> [(step, value)] in step order; a
    step logged twice (a resumed run that repeated it) keeps its last value."""
    by_key: dict[str, dict[int, float]] = {}
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
        record = json.loads(line)
        for key, value in record.items():
            if key.startswith("val/"):
                by_key.setdefault(key, {})[int(record["step"])] = float(value)
    return {key: sorted(points.items()) for key, points in by_key.items()}


def baseline_lines(runs: Sequence[Path]) -> tuple[dict[str, dict[str, Any]], str]:
    """Photo-blind baseline name -> its scores, and the images they were
    scored on ("val subset" or "full val set"), from the first of the runs
    whose results.json has them; ({}, "") when none has."""
    for run in runs:
        path = run / "results.json"
        if not path.is_file():
            continue
        results = json.loads(path.read_text())
        if "val_subset" in results:
            return results["val_subset"]["baselines"], "val subset"
        if results.get("baselines"):
            return results["baselines"], "full val set"
    return {}, ""


def first_above(points: Sequence[tuple[int, float]], level: float) -> int | None:
    """The first step whose value is above level, or None if none is."""
    return next((step for step, value in points if value > level), None)


def report_passes(curves: dict[str, dict[str, list[tuple[int, float]]]], prior: float, where: str) -> None:
    """Print, per run, the update at which its pixel accuracy first passes the
    photo-blind per-pixel prior, or its best value if it never does."""
    for name, run_curves in curves.items():
        points = run_curves.get("val/pixel_accuracy", [])
        if not points:
            continue
        step = first_above(points, prior)
        best_step, best = max(points, key=lambda p: p[1])
        verdict = f"passes it at update {step}" if step is not None else "never passes it"
        print(f"{name}: per-pixel prior {prior:.1f} % ({where}) - {verdict}; best {best:.1f} % at update {best_step}")


def markdown_table(curves: dict[str, dict[str, list[tuple[int, float]]]],
                   baselines: dict[str, dict[str, Any]], where: str) -> str:
    """One row per evaluated update, one column per run, each cell "pixel
    accuracy / mean IoU" (%); then one row per photo-blind baseline. A run
    without a value at that update shows "-"."""
    names = list(curves)
    values = {(name, step, key): v for name, c in curves.items() for key, _, _ in PANELS for step, v in c.get(key, [])}
    steps = sorted({step for _, step, _ in values})

    def cell(name: str, step: int) -> str:
        acc, iou = (values.get((name, step, key)) for key, _, _ in PANELS)
        return "-" if acc is None else f"{acc:.1f} / {number(iou, '.1f')}"

    lines = ["pixel accuracy / mean IoU (%) on the validation subset", "",
             "| update | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {step} | " + " | ".join(cell(name, step) for name in names) + " |" for step in steps]
    for name, scores in sorted(baselines.items()):
        both = " / ".join(number(scores.get(k), ".1f") for _, k, _ in PANELS)
        lines.append(f"| {name}, {where} | " + " | ".join(both for _ in names) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    return figure_args(__doc__, "fig_i2i_curves")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plt = setup_matplotlib(args.usetex)
    runs = sorted(p for p in Path(args.out_path, "Image2Image").glob(args.runs) if p.is_dir())
    curves = {run.name: c for run in runs if (c := read_curves(run))}
    baselines, where = baseline_lines(runs)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, (key, result_key, label) in zip(axes, PANELS, strict=True):
        for name, run_curves in curves.items():
            if key in run_curves:
                steps, values = zip(*run_curves[key], strict=True)
                ax.plot(steps, values, marker=".", label=name)
        for name, scores in sorted(baselines.items()):
            if scores.get(result_key) is not None:  # results of older runs lack mean_iou
                ax.axhline(scores[result_key], color=COLOURS.get(name), linestyle="--", label=f"{name}, {where}")
        ax.set(xlabel="generator update", ylabel=f"{label}, higher is better")
    prior = baselines.get("prior (photo-blind)", {}).get("accuracy")
    if prior is not None:
        report_passes(curves, prior, where)
    title = "Image2Image, Cityscapes: scores on the validation subset during training"
    finish(fig, axes, args.output, True, title if curves else f"{title} (no runs with --eval_every yet)",
           markdown_table(curves, baselines, where) if curves else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
