"""Release trained generators: the generator's weights with the options that
built it, one small file per run, and a manifest (task, model, flags, seed,
commit, updates, the measured metrics), so that anyone can re-score a run with

    python PairedMNIST.py --eval --generator releases/paired_mnist/FactorGAN_100_0.9_b1.0_s1337.pt

without its run directory or training. Make a release with

    python -m analysis.release --out_path out --task PairedMNIST --runs '*_b1.0_*' --to releases/paired_mnist
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.collect import MANIFEST
from common.io import load_checkpoint, save_atomic
from training.options import RUNTIME_OPTIONS

NOT_OPTIONS = {"git_commit", "torch_threads"}  # recorded in config.json beside the options


def result_metrics(results: dict[str, Any]) -> dict[str, Any]:
    """The scores of a run's results.json as analysis reads them: its numbers
    (not the step), the strings that say what was scored (model, layout,
    factorisation, classifier) and the nested scores (PairedMNIST's
    by_classifier, the 2x2 grids' floor); lists are left out."""
    return {k: v for k, v in results.items()
            if k != "step" and not isinstance(v, bool) and isinstance(v, int | float | str | dict)}


def release_run(run: Path, folder: Path) -> dict[str, Any]:
    """Write folder/<run name>.pt ({"generator", "step", "options"}) for a
    finished run; returns its manifest entry."""
    config = json.loads((run / "config.json").read_text())
    results = json.loads((run / "results.json").read_text())
    state = load_checkpoint(run / "checkpoints" / "G.pt", "cpu", missing="the run has no generator checkpoint",
                            damaged="restore the run's checkpoints/G.pt")
    options = {k: v for k, v in config.items() if k not in RUNTIME_OPTIONS and k not in NOT_OPTIONS}
    target = folder / f"{run.name}.pt"
    save_atomic({"generator": state["generator"], "step": state.get("step"), "options": options}, target)
    return {"file": target.name, "task": run.parent.name, "experiment": run.name, "model": results.get("model"),
            "options": options, "seed": options.get("seed"), "commit": config.get("git_commit"),
            "updates": state.get("step"), "metrics": result_metrics(results), "bytes": target.stat().st_size,
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest()}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_path", default="out", help="root folder of the runs")
    p.add_argument("--task", default="PairedMNIST", help="the runs' task folder")
    p.add_argument("--runs", default="*", help="release the finished runs whose name matches this glob")
    p.add_argument("--to", required=True, help="release folder (generator files and manifest.json)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs = sorted(r.parent for r in Path(args.out_path, args.task).glob(f"{args.runs}/results.json"))
    if not runs:
        print(f"no finished runs matching {args.runs!r} under {Path(args.out_path, args.task)}", file=sys.stderr)
        return 2
    return 0 if release_runs(runs, Path(args.to)) else 2


def release_runs(runs: Sequence[Path], folder: Path) -> int:
    """Release every finished training run of `runs` into folder and update
    its manifest (an entry of the same file is replaced); returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    entries = {e["file"]: e for e in json.loads(manifest_path.read_text())} if manifest_path.is_file() else {}
    released = 0
    for run in runs:
        if not (run / "config.json").is_file() or not (run / "checkpoints" / "G.pt").is_file():
            print(f"skipped {run.name}: not a training run (no config.json or checkpoints/G.pt), "
                  "e.g. the scores of an already released generator", file=sys.stderr)
            continue
        entry = release_run(run, folder)
        entries[entry["file"]] = entry
        released += 1
        print(f"released {run.name}: {entry['bytes'] / 2**20:.2f} MiB")
    manifest_path.write_text(json.dumps(sorted(entries.values(), key=lambda e: e["file"]), indent=2) + "\n")
    return released


if __name__ == "__main__":
    sys.exit(main())
