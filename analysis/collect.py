"""Gather every run's results under an --out_path into one table per experiment.

    python -m analysis.collect --out_path out
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TASKS = ("PairedMNIST", "ImagePairs", "Image2Image", "AudioSeparation")
PAPER_DIR = Path(__file__).parent / "paper_results"
MANIFEST = "manifest.json"  # a release folder's index (analysis.release writes it)


def collect(out_path: str | Path, task: str, runs: str = "*",
            releases: str | Path | None = None) -> list[dict[str, Any]]:
    """The results.json of every run of a task whose name matches the glob
    `runs`, each with its run name added; with `releases` (a folder written by
    analysis.release) also the metrics its manifest records for released
    generators of runs that `out_path` does not hold."""
    rows = []
    for path in sorted(Path(out_path, task).glob(f"{runs}/results.json")):
        result = json.loads(path.read_text())
        result["experiment"] = path.parent.name
        rows.append(result)
    if releases is not None:
        have = {r["experiment"] for r in rows}
        rows += [r for r in released(releases, task, runs) if r["experiment"] not in have]
    return rows


def released(folder: str | Path, task: str, runs: str = "*") -> list[dict[str, Any]]:
    """The recorded metrics of every released generator of a task in
    folder's manifest whose run name matches the glob `runs`, shaped as
    that run's results.json."""
    manifest = Path(folder, MANIFEST)
    if not manifest.is_file():
        raise SystemExit(f"no release manifest at {manifest}: pass the folder that analysis.release wrote, "
                         "e.g. releases/paired_mnist")
    return [{**e["metrics"], "model": e["model"], "experiment": e["experiment"], "released": e["file"]}
            for e in json.loads(manifest.read_text())
            if e["task"] == task and fnmatch.fnmatchcase(e["experiment"], runs)]


@functools.cache
def paper_rows(name: str) -> tuple[dict[str, str], ...]:
    """One of the paper's result tables (analysis/paper_results/<name>.csv),
    read once per process."""
    path = PAPER_DIR / f"{name}.csv"
    text = path.read_text()
    delimiter = ";" if ";" in text.splitlines()[0] else ","
    return tuple(csv.DictReader(text.splitlines(), delimiter=delimiter))


def paper_value(rows: Sequence[dict[str, str]], column: str, cell: dict[str, Any]) -> str:
    """The value in `column` of the first paper row whose columns hold the
    values of `cell` (numbers compared as numbers), or "-" when none does."""
    def holds(row: dict[str, str]) -> bool:
        return all(float(row[k]) == v if isinstance(v, int | float) else row[k] == v for k, v in cell.items())
    return next((r[column] for r in rows if holds(r)), "-")


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested results -> one level with dotted keys (lists are left out)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            out[f"{prefix}{key}"] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_path", default="out", help="root folder of the runs")
    p.add_argument("--output", default=None, help="folder for the tables (default: OUT_PATH/tables)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output or Path(args.out_path) / "tables")
    output.mkdir(parents=True, exist_ok=True)
    for task in TASKS:
        rows = [flat(r) for r in collect(args.out_path, task)]
        if not rows:
            continue
        columns = sorted({k for r in rows for k in r})
        with open(output / f"{task}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(rows)
        print(f"{task}: {len(rows)} runs -> {output / f'{task}.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
