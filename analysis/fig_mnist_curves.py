"""PairedMNIST validation curves of runs trained with --eval_every: FID and
the dependency metric under one evaluation classifier vs generator update, one
line per run, with the paper's 200k-update value of each run's cell as a
dashed line of the same colour; writes the curves' values as a markdown table
beside the PNG (.md), so that they outlive the run directories.

The curve points score --eval_subset generated pairs (default 10000, as many as
the final evaluation) with fixed noise; a finished run's results.json, scored
on the whole test set, is the last row ("final").

    python -m analysis.fig_mnist_curves --out_path out --runs '*60000*' --classifier reference
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.fig1_paired_mnist import by_classifier, paper_score
from analysis.fig_i2i_curves import read_curves
from analysis.plotting import figure_args, finish, number, setup_matplotlib
from training.models_registry import model_name

# score -> axis label
PANELS = {"fid": "FID, lower is better", "dependency": "dependency metric, lower is better"}


def run_cell(run: Path) -> tuple[str, int, float]:
    """(model, paired count, lambda) of a run, from its config.json."""
    config = json.loads((run / "config.json").read_text())
    return (model_name(argparse.Namespace(**config), "PairedMNIST"), int(config["num_joint_samples"]),
            float(config["mnist_same_digit_prob"]))


def final_scores(run: Path, classifier: str) -> dict[str, float]:
    """The finished run's FID and dependency under the classifier (results.json), or {}."""
    path = run / "results.json"
    if not path.is_file():
        return {}
    scores = by_classifier(json.loads(path.read_text())).get(classifier, {})
    return {key: float(scores[key]) for key in PANELS if isinstance(scores.get(key), int | float)}


def markdown_table(curves: dict[str, dict[str, list[tuple[int, float]]]], finals: dict[str, dict[str, float]],
                   papers: dict[str, dict[str, str]], classifier: str) -> str:
    """One row per scored update, one column per run ("FID / dependency"),
    then the final scores and the paper's values."""
    names = list(curves)
    values = {(name, step, key): v for name, c in curves.items() for key in PANELS
              for step, v in c.get(f"val/{key}/{classifier}", [])}
    steps = sorted({step for _, step, _ in values})

    def pair(fid: float | None, dep: float | None) -> str:
        return "-" if fid is None else f"{fid:.2f} / {number(dep, '.3f')}"

    lines = [f"FID / dependency under the {classifier!r} classifier", "",
             "| update | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {step} | " + " | ".join(pair(*(values.get((name, step, k)) for k in PANELS)) for name in names)
              + " |" for step in steps]
    lines.append("| final (test set) | " + " | ".join(pair(*(finals[n].get(k) for k in PANELS)) for n in names) + " |")
    lines.append("| paper (200k) | " + " | ".join(f"{papers[n]['fid']} / {papers[n]['dependency']}" for n in names)
                 + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = figure_args(__doc__, "fig_mnist_curves")
    p.add_argument("--classifier", default="reference", help="the evaluation classifier recipe whose curves to draw")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plt = setup_matplotlib(args.usetex)
    runs = sorted(p for p in Path(args.out_path, "PairedMNIST").glob(args.runs) if (p / "config.json").is_file()
                  and json.loads((p / "config.json").read_text()).get("layout", "2x1") == "2x1")  # pairs only
    curves = {run.name: c for run in runs if (c := read_curves(run)) and f"val/fid/{args.classifier}" in c}
    runs = [run for run in runs if run.name in curves]
    finals = {run.name: final_scores(run, args.classifier) for run in runs}
    papers = {run.name: {key: paper_score(key, lam, count, model) for key in PANELS}
              for run in runs for model, count, lam in [run_cell(run)]}
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, (key, label) in zip(axes, PANELS.items(), strict=True):
        for i, name in enumerate(curves):
            colour = f"C{i}"
            points = curves[name].get(f"val/{key}/{args.classifier}", [])
            if points:
                ax.plot(*zip(*points, strict=True), marker=".", color=colour, label=name)
            if papers[name][key] != "-":
                ax.axhline(float(papers[name][key]), color=colour, linestyle="--", linewidth=0.8,
                           label=f"{name}: paper, 200k")
        ax.set(xlabel="generator update", ylabel=label)
        if key == "fid":
            ax.set_yscale("log")
    title = f"PairedMNIST: scores during training ({args.classifier!r} classifier)"
    finish(fig, axes, args.output, True, title if curves else f"{title} (no runs with --eval_every yet)",
           markdown_table(curves, finals, papers, args.classifier) if curves else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
