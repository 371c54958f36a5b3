"""Paper Fig. 1: PairedMNIST FID and dependency metric vs paired samples,
for lambda 0.1 and 0.9; GAN, FactorGAN, FactorGAN-no-cp; ours beside the paper's.
Also writes the numbers as markdown (OUTPUT.md): per run, FID and
dependency under every evaluation classifier it was scored with, and the
paper's values; then the paper's orderings checked on the runs (FactorGAN vs
GAN and vs FactorGAN-no-cp at each count, and each model's trend with more
pairs).

With --campaign NAME the runs are the campaign's ledger (several seeds per
cell): the figure draws each cell's mean and standard deviation, and the
markdown gives each cell's mean, sd, min and max, then for every ordering of
the paper whether ours holds beyond the seeds' spread (the two cells' min-max
ranges do not overlap), lies within it, or is reversed beyond it.

    python -m analysis.fig1_paired_mnist --out_path out
    python -m analysis.fig1_paired_mnist --campaign fig1_seeds --classifier reference
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from collections.abc import Sequence

from analysis.collect import collect, paper_rows, paper_value
from analysis.ledger import ledger_results
from analysis.plotting import draw, figure_args, finish, number, setup_matplotlib
from training.models_registry import MODELS


def by_classifier(result: dict) -> dict[str, dict]:
    """A run's scores per evaluation classifier (older runs: only their own)."""
    return result.get("by_classifier") or {result.get("classifier", "ours"): result}


def score(result: dict, key: str, classifier: str | None) -> float:
    """A run's score under the named evaluation classifier (default: the run's own)."""
    by, name = by_classifier(result), classifier or result.get("classifier", "ours")
    if name not in by:
        raise SystemExit(f"run {result['experiment']} has no scores for the {name!r} classifier: "
                         f"evaluate it with --eval --eval_classifier {name}")
    return by[name][key]


# score -> the paper's table, its column, the axis label
PAPER_COLUMNS = {"fid": ("fig1_fid", "FID", "FID"), "dependency": ("fig1_dependency", "Diff", "dependency metric")}
# the paper's pairwise claims: (score, model, the model it is compared with)
COMPARISONS = (("fid", "FactorGAN", "GAN"), ("dependency", "FactorGAN", "GAN"),
               ("dependency", "FactorGAN", "FactorGAN-no-cp"))


def classifier_names(runs: list[dict]) -> list[str]:
    """Every evaluation classifier the runs were scored with, ours first."""
    return sorted({c for r in runs for c in by_classifier(r)}, key=lambda c: c != "ours")


def paper_score(key: str, lam: float, count: int, model: str) -> str:
    """The paper's value of a score for a model, paired count and lambda, as
    its table writes it, or "-" where it has none."""
    table, column, _ = PAPER_COLUMNS[key]
    return paper_value(paper_rows(table), column, {"Model": model, "Paired samples": count, "Lambda": lam})


def markdown_table(runs: list[dict]) -> str:
    """One row per run (by lambda, paired count, model): FID and dependency
    under each evaluation classifier ("ours / reference"), the paper's beside."""
    order = list(MODELS)
    runs = sorted(runs, key=lambda r: (-float(r["lambda"]), int(r["num_joint_samples"]), order.index(r["model"])))
    classifiers = classifier_names(runs)
    names = " / ".join(classifiers)
    lines = [f"| lambda | paired | model | FID ({names}) | paper FID | dependency ({names}) | paper dependency |",
             "|---|---|---|---|---|---|---|"]

    def scores(by: dict, key: str) -> str:
        return " / ".join(f"{by[c][key]:.{2 if key == 'fid' else 3}f}" if c in by else "-" for c in classifiers)

    for r in runs:
        lam, count, model, by = float(r["lambda"]), int(r["num_joint_samples"]), r["model"], by_classifier(r)
        lines.append(f"| {lam} | {count} | {model} | {scores(by, 'fid')} | {paper_score('fid', lam, count, model)}"
                     f" | {scores(by, 'dependency')} | {paper_score('dependency', lam, count, model)} |")
    return "\n".join(lines) + "\n"


def orderings(runs: list[dict]) -> str:
    """The paper's orderings checked on the runs, as markdown. First, at each
    lambda and paired count with runs of both models, every comparison of
    COMPARISONS: our two values under each classifier, the paper's, and
    whether ours are in the paper's order. Then, per lambda, model using pairs
    and score, with runs at two counts or more, the values along the counts
    and whether they rank the counts as the paper's do (the trend with more
    pairs). A model without pairs (no-cp) stands at every count of its lambda."""
    classifiers = classifier_names(runs)
    names = " / ".join(classifiers)
    scores: dict[tuple[float, int, str], dict[str, dict]] = {}
    counts = sorted({int(r["num_joint_samples"]) for r in runs if MODELS[r["model"]].uses_pairs})
    for r in runs:
        lam, model = float(r["lambda"]), r["model"]
        for count in [int(r["num_joint_samples"])] if MODELS[model].uses_pairs else counts:
            scores[(lam, count, model)] = by_classifier(r)

    def same_order(ours: list[float], theirs: list[float | None]) -> str:
        if None in theirs:
            return "-"
        if len(set(ours)) < len(ours):
            return "tie"
        return "yes" if sorted(range(len(ours)), key=ours.__getitem__) == sorted(
            range(len(theirs)), key=theirs.__getitem__) else "**no**"

    def text(values: Sequence[float | None], sep: str) -> str:
        return sep.join(number(v, ".3g") for v in values)

    def compare(key: str, cells: list[tuple[float, int, str]], sep: str) -> str:
        """Ours under each classifier | the paper's | whether each of ours is in the paper's order."""
        ours = [[scores[cell].get(c, {}).get(key) for cell in cells] for c in classifiers]
        theirs = [None if (v := paper_score(key, *cell)) == "-" else float(v) for cell in cells]
        agree = " / ".join("-" if None in o else same_order(o, theirs) for o in ours)
        return f"{' / '.join(text(o, sep) for o in ours)} | {text(theirs, sep)} | {agree}"

    pairs, trends = [], []
    lambdas = sorted({lam for lam, _, _ in scores}, reverse=True)
    for lam, count, (key, model, other) in itertools.product(lambdas, counts, COMPARISONS):
        cells = [(lam, count, model), (lam, count, other)]
        if all(cell in scores for cell in cells):
            pairs.append(f"| {lam} | {count} | {key} | {other} | {compare(key, cells, ' vs ')} |")
    for lam, model, key in itertools.product(lambdas, [m for m in MODELS if MODELS[m].uses_pairs], PAPER_COLUMNS):
        cells = [(lam, c, model) for c in counts if (lam, c, model) in scores]
        if len(cells) > 1:
            trends.append(f"| {lam} | {model} | {key} | {', '.join(str(c) for _, c, _ in cells)} | "
                          f"{compare(key, cells, ', ')} |")
    lines = ["Orderings (lower is better for both scores):"]
    for header, rows in (("paired | score | FactorGAN vs", pairs), ("model | score | paired", trends)):
        if rows:
            lines += ["", f"| lambda | {header} | ours ({names}) | paper | same order as the paper |",
                      "|---|---|---|---|---|---|---|", *rows]
    return "\n".join(lines) + "\n"


def ledger_rows(name: str, runs: str = "*") -> list[dict]:
    """A campaign's recorded runs whose name matches the glob `runs`, one row
    per seed, with the pair task's ``lambda``."""
    return [{**r, "lambda": r["mnist_same_digit_prob"]} for r in ledger_results(name, runs)]


def cell_values(runs: list[dict], key: str, classifier: str) -> dict[tuple[float, int, str], list[float]]:
    """(lambda, paired count, model) -> the seeds' values of a score under a
    classifier; a model without pairs (no-cp) stands at every count of its lambda."""
    counts = sorted({int(r["num_joint_samples"]) for r in runs if MODELS[r["model"]].uses_pairs})
    values: dict[tuple[float, int, str], list[float]] = {}
    for r in runs:
        value = by_classifier(r).get(classifier, {}).get(key)
        if value is None:
            continue
        for count in [int(r["num_joint_samples"])] if MODELS[r["model"]].uses_pairs else counts:
            values.setdefault((float(r["lambda"]), count, r["model"]), []).append(value)
    return values


def spread(values: list[float], spec: str) -> str:
    """mean ± sd [min, max] (n), or the one value with (1)."""
    if len(values) == 1:
        return f"{values[0]:{spec}} (1)"
    return (f"{statistics.mean(values):{spec}} ± {statistics.stdev(values):{spec}} "
            f"[{min(values):{spec}}, {max(values):{spec}}] ({len(values)})")


def spread_tables(runs: list[dict]) -> str:
    """Per cell and classifier, each score's mean ± sd [min, max] (seeds) beside
    the paper's; then per paper ordering and classifier the verdict."""
    lines = []
    for classifier in classifier_names(runs):
        cells = {key: cell_values(runs, key, classifier) for key in PAPER_COLUMNS}
        lines += [f"Classifier {classifier!r}: mean ± sd [min, max] (seeds)", "",
                  "| lambda | paired | model | FID | paper FID | dependency | paper dependency |",
                  "|---|---|---|---|---|---|---|"]
        for cell in sorted(cells["fid"], key=lambda c: (-c[0], c[1], list(MODELS).index(c[2]))):
            lines.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | {spread(cells['fid'][cell], '.2f')} | "
                         f"{paper_score('fid', *cell)} | {spread(cells['dependency'].get(cell, [float('nan')]), '.3f')}"
                         f" | {paper_score('dependency', *cell)} |")
        lines += ["", f"Orderings, classifier {classifier!r}:", "",
                  "| lambda | paired | score | FactorGAN vs | FactorGAN [min, max] | other [min, max] | paper | ours |",
                  "|---|---|---|---|---|---|---|---|"]
        where = sorted({(lam, count) for lam, count, _ in cells["fid"]}, key=lambda c: (-c[0], c[1]))
        for (lam, count), (key, model, other) in itertools.product(where, COMPARISONS):
            a, b = cells[key].get((lam, count, model)), cells[key].get((lam, count, other))
            paper = [paper_score(key, lam, count, m) for m in (model, other)]
            if not a or not b or "-" in paper:
                continue
            lines.append(f"| {lam} | {count} | {key} | {other} | [{min(a):.3g}, {max(a):.3g}] | "
                         f"[{min(b):.3g}, {max(b):.3g}] | {float(paper[0]):.3g} vs {float(paper[1]):.3g} | "
                         f"{verdict(a, b, float(paper[0]) < float(paper[1]))} |")
        lines.append("")
    return "\n".join(lines)


def verdict(ours: list[float], other: list[float], paper_lower: bool) -> str:
    """Whether FactorGAN's seeds are in the paper's order against the other
    model's (paper_lower: the paper's FactorGAN is lower): beyond the spread
    (the two min-max ranges do not overlap), within it, or reversed beyond
    it. With one seed on a side there is no spread: "holds" or "reversed"."""
    one = min(len(ours), len(other)) < 2
    if not (max(ours) < min(other) or min(ours) > max(other)):
        return "tie (1 seed)" if one else "within the spread"
    holds = (max(ours) < min(other)) == paper_lower
    if one:
        return "holds (1 seed)" if holds else "**reversed** (1 seed)"
    return "holds beyond the spread" if holds else "**reversed** beyond the spread"


def build_parser() -> argparse.ArgumentParser:
    p = figure_args(__doc__, "fig1_paired_mnist")
    p.add_argument("--classifier", choices=["ours", "reference"], default=None,
                   help="draw the scores of this evaluation classifier (default: each run's first)")
    p.add_argument("--campaign", default=None,
                   help="draw a campaign's ledger (campaigns/NAME.results.jsonl; several seeds per cell) "
                        "instead of the runs under --out_path")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plt = setup_matplotlib(args.usetex)
    ours = [r for r in (ledger_rows(args.campaign, args.runs) if args.campaign
                        else collect(args.out_path, "PairedMNIST", args.runs, args.releases))
            if r.get("layout", "2x1") == "2x1"]  # the 2x2 grids are analysis.fig_grid's
    fig, axes = plt.subplots(2, 2, figsize=(8, 6))
    for row, (key, (table, column, label)) in enumerate(PAPER_COLUMNS.items()):
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
    table = (spread_tables(ours) if args.campaign else markdown_table(ours) + "\n" + orderings(ours)) if ours else None
    finish(fig, axes.ravel(), args.output, bool(ours), "PairedMNIST (Fig. 1)", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
