"""How much PairedMNIST's FID and dependency move with the evaluation
classifier alone: the same generated pairs scored by one recipe trained with
several seeds (``--eval_classifier reference reference@0 reference@1 ...``).

    for f in releases/paired_mnist/*.pt; do
      python PairedMNIST.py --eval --generator $f --eval_classifier reference reference@0 reference@1 reference@2 \\
          --out_path RUNS; done
    python -m analysis.classifier_spread --out_path RUNS --recipe reference

Writes a markdown table (one row per run: each classifier's score, the
spread max - min and max / min - 1) and a summary line per score.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.collect import collect


def spread_rows(runs: list[dict], recipe: str, key: str) -> tuple[list[str], list[tuple[str, list[float]]]]:
    """The classifiers of `recipe` (the recipe itself and every RECIPE@SEED)
    that scored every run, and per run its scores under them."""
    names = sorted({c for r in runs for c in r.get("by_classifier", {}) if c.partition("@")[0] == recipe})
    names = [c for c in names if all(c in r.get("by_classifier", {}) for r in runs)]
    return names, [(r["experiment"], [r["by_classifier"][c][key] for c in names]) for r in runs]


def spread_table(runs: list[dict], recipe: str) -> str:
    lines = []
    for key, spec in (("fid", ".3g"), ("dependency", ".3f")):
        names, rows = spread_rows(runs, recipe, key)
        if len(names) < 2:
            raise SystemExit(f"fewer than two {recipe!r} classifiers scored every run: evaluate them with "
                             f"--eval_classifier {recipe} {recipe}@1 {recipe}@2")
        lines += [f"{key}: the same generated pairs under {len(names)} trainings of the {recipe!r} recipe", "",
                  f"| run | {' | '.join(names)} | max - min | max / min - 1 |", "|---|" + "---|" * (len(names) + 2)]
        relative = []
        for name, values in rows:
            relative.append(max(values) / min(values) - 1)
            lines.append(f"| {name} | {' | '.join(format(v, spec) for v in values)} | "
                         f"{max(values) - min(values):{spec}} | {100 * relative[-1]:.1f} % |")
        lines += ["", (f"{key}: max / min - 1 over the runs: median {100 * statistics.median(relative):.1f} %, "
                      f"largest {100 * max(relative):.1f} %"), ""]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_path", default="out", help="root folder of the evaluated runs")
    p.add_argument("--runs", default="*", help="only runs whose name matches this glob")
    p.add_argument("--recipe", default="reference", choices=["ours", "reference"], help="the classifier recipe")
    p.add_argument("--output", default=None, help="markdown file to write (default: print)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs = collect(args.out_path, "PairedMNIST", args.runs)
    if not runs:
        raise SystemExit(f"no evaluated PairedMNIST runs under {args.out_path}")
    text = spread_table(runs, args.recipe)
    if args.output:
        Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
