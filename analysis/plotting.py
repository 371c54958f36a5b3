"""Shared drawing: our numbers beside the paper's, on the same axes."""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MARKERS = {"GAN": "o", "GAN big": "s", "FactorGAN": "^", "FactorGAN-no-cp": "v", "CoGAN": "D", "SCoGAN": "d",
           "CycleGAN": "P", "pix2pix": "X"}
COLOURS = {"GAN": "tab:green", "GAN big": "tab:olive", "FactorGAN": "tab:blue", "FactorGAN-no-cp": "tab:orange",
           "CoGAN": "tab:purple", "SCoGAN": "tab:pink", "CycleGAN": "tab:red", "pix2pix": "tab:brown",
           "prior (photo-blind)": "tab:gray", "mean map (photo-blind)": "black"}


def number(value: float | None, spec: str) -> str:
    """A score in a markdown table: value in format spec (".1f", ".3g"), or "-" when missing."""
    return "-" if value is None else format(value, spec)


class FigureParser(argparse.ArgumentParser):
    """A figure script's parser: --output defaults to OUT_PATH/figures/<name>,
    beside the runs it draws, whatever the working directory."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.figure_name = name

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, rest = super().parse_known_args(args, namespace)
        if parsed.output is None:
            parsed.output = str(Path(parsed.out_path) / "figures" / self.figure_name)
        return parsed, rest


def figure_args(description: str, name: str) -> argparse.ArgumentParser:
    p = FigureParser(name, description=description)
    p.add_argument("--out_path", default="out", help="root folder of the runs")
    p.add_argument("--runs", default="*",
                   help="draw only runs whose experiment name matches this glob, e.g. '*_b0.05_*'")
    p.add_argument("--releases", default=None,
                   help="also draw the recorded scores of released generators (a folder with a manifest.json, "
                        "e.g. releases/paired_mnist); a run of the same name under --out_path wins")
    p.add_argument("--output", default=None,
                   help=f"output path without extension (.png, .pdf, and .md where there is a table; "
                        f"default: OUT_PATH/figures/{name})")
    p.add_argument("--usetex", action="store_true", help="render text with LaTeX")
    return p


def setup_matplotlib(usetex: bool):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"text.usetex": usetex, "font.size": 9})
    return plt


def draw(ax, points: Iterable[tuple[str, float, float]], ours: bool) -> None:
    """points: (model, x, y); several y at one x are drawn as mean +- sd.
    Paper: dashed lines, hollow markers; ours: solid lines, filled markers."""
    by_model: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for model, x, y in points:
        by_model[model][x].append(y)
    for model, series in sorted(by_model.items()):
        xs = sorted(series)
        means = [statistics.mean(series[x]) for x in xs]
        sds = [statistics.stdev(series[x]) if len(series[x]) > 1 else 0.0 for x in xs]
        style = {"marker": MARKERS.get(model, "."), "color": COLOURS.get(model), "linestyle": "-" if ours else "--",
                 "label": f"{model} ({'ours' if ours else 'paper'})"}
        if not ours:
            style["markerfacecolor"] = "none"
        ax.errorbar(xs, means, yerr=sds if any(sds) else None, capsize=2, **style)


def finish(fig, axes: Sequence, output: str, has_ours: bool, title: str, table: str | None = None) -> list[Path]:
    """One legend below the panels (each label once, so none covers a curve), a
    title that says when no runs of ours exist, PNG and PDF, and the markdown
    table beside them (.md) when one is given."""
    entries: dict[str, object] = {}
    for ax in axes:
        ax.grid(True, alpha=0.3)
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    fig.suptitle(title if has_ours else f"{title} (paper only: no runs of ours yet)")
    fig.tight_layout()
    if entries:
        labels = sorted(entries)
        fig.legend([entries[label] for label in labels], labels, loc="upper center", bbox_to_anchor=(0.5, 0),
                   ncol=min(4, len(labels)), fontsize=7, frameon=False)
    base = str(output).removesuffix(".png").removesuffix(".pdf")  # names may hold dots: fig1_b0.05
    paths = [Path(base + ".png"), Path(base + ".pdf")]
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")  # keeps the legend
    import matplotlib.pyplot as plt

    plt.close(fig)  # a process drawing many figures (tests, notebooks) keeps none open
    if table is not None:
        paths.append(paths[0].with_suffix(".md"))
        paths[-1].write_text(table)
    print("wrote " + ", ".join(str(p) for p in paths))
    return paths
