"""Start-up collapse of ImagePairs runs (issue 20): each run's generated-batch
diversity (``G/batch_sd`` in metrics.jsonl) at its last logged update,
against real pairs' batch diversity, and the collapse rate per model and
stabiliser setting (STABILISERS).

A run counts as collapsed when its G/batch_sd, averaged over the last
``--window`` logged rows, is below ``--fraction`` x the real pairs' (the same
statistic on real training batches of the run's batch size). Both were fixed
before the study's runs were seen.

    python -m analysis.collapse --out_path runs --runs 'collapse_*' --data_root ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch

from datasets.pix2pix import load_split
from training.models_registry import model_name
from training.options import cache_dir

STABILISERS = {"marginal_lr_factor": 1.0, "instance_noise": 0.0}  # option -> its "off" value


def batch_sd(images: torch.Tensor, batch_size: int, batches: int = 50, seed: int = 0) -> float:
    """Mean over random batches of the per-entry standard deviation across the
    batch (the loop's G/batch_sd), for real samples images (N, ...) uint8."""
    rng = torch.Generator().manual_seed(seed)
    values = [images[torch.randint(len(images), (batch_size,), generator=rng)].float().div(255).std(0).mean()
              for _ in range(batches)]
    return float(torch.stack(values).mean())


def final_batch_sd(metrics: Path, window: int) -> tuple[int, float]:
    """(last step, mean G/batch_sd of the last `window` rows) of a metrics.jsonl;
    a step logged twice (a resumed run) counts once, with its last value."""
    rows: dict[int, float] = {}
    for line in metrics.read_text().splitlines():
        row = json.loads(line)
        if "G/batch_sd" in row:
            rows[row["step"]] = row["G/batch_sd"]
    steps = sorted(rows)[-window:]
    return steps[-1], statistics.mean(rows[s] for s in steps)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_path", required=True, help="root folder of the runs")
    p.add_argument("--runs", default="*", help="glob of the runs' experiment names")
    p.add_argument("--data_root", default="data")
    p.add_argument("--cache_dir", default=None, help="decoded-data cache (default: OUT_PATH/cache, as the experiments')")
    p.add_argument("--window", type=int, default=1, help="logged rows averaged at the end of each run")
    p.add_argument("--fraction", type=float, default=0.25,
                   help="collapsed: final G/batch_sd below this fraction of the real pairs'")
    p.add_argument("--csv", default=None, help="write the per-run table here (default: OUT_PATH/ImagePairs/collapse.csv)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    task = "ImagePairs"
    runs = [m.parent for m in sorted(Path(args.out_path, task).glob(f"{args.runs}/metrics.jsonl"))]
    if not runs:
        raise SystemExit(f"no runs matching {args.runs!r} with a metrics.jsonl in {args.out_path}/{task}")
    real_sd: dict[tuple[str, int, int], float] = {}
    rows = []
    for run in runs:
        cfg = argparse.Namespace(**json.loads((run / "config.json").read_text()))
        if getattr(cfg, "pairs", None) is not None:
            raise SystemExit(f"{run.name} trained on own folders (--pairs): its real batch diversity is not "
                             "computed here; leave it out with --runs")
        key = (cfg.dataset, cfg.loadSize, cfg.batchSize)
        if key not in real_sd:
            images, _ = load_split(args.data_root, cfg.dataset, "train", cfg.loadSize, cache_dir(args), progress=False)
            real_sd[key] = batch_sd(images, cfg.batchSize)
        step, sd = final_batch_sd(run / "metrics.jsonl", args.window)
        setting = ", ".join(f"{k} {getattr(cfg, k, off):g}" for k, off in STABILISERS.items()
                            if getattr(cfg, k, off) != off) or "none (the paper's)"
        rows.append({"run": run.name, "model": model_name(cfg, task), "setting": setting, "seed": cfg.seed,
                     "step": step, "batch_sd": round(sd, 4), "real_batch_sd": round(real_sd[key], 4),
                     "collapsed": sd < args.fraction * real_sd[key]})
    out = Path(args.csv or Path(args.out_path) / task / "collapse.csv")
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["model"], row["setting"]].append(row)
    print(f"collapsed: final G/batch_sd < {args.fraction} x real pairs' ({', '.join(f'{v:.4f}' for v in real_sd.values())})")
    print("| model | setting | collapsed | runs (seed: final G/batch_sd at step) |")
    print("|---|---|---|---|")
    for (model, setting), group in sorted(groups.items()):
        detail = ", ".join(f"{r['seed']}: {r['batch_sd']:.3f}{' (collapsed)' if r['collapsed'] else ''} @ {r['step']}"
                           for r in sorted(group, key=lambda r: r["seed"]))
        print(f"| {model} | {setting} | {sum(r['collapsed'] for r in group)} of {len(group)} | {detail} |")
    print(f"per-run table: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
