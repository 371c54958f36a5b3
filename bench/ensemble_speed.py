"""Aggregate training throughput of PairedMNIST ensembles (--seeds): member
updates per second of ensembles of E members, beside one ordinary run.

Every configuration (model x ensemble size, and the ordinary single run of
each model) is timed in the same interleaved rounds after a warm-up, so that
machine noise hits all of them alike; each round also gives the ensemble's
speed-up over the single run of that round. The arithmetic per update is
counted once (torch's FLOP counter over one single-run update) and the
machine's fp32 GEMM peak measured with a large torch.mm, for the fraction of
peak reached. One JSON line per configuration, then a table.

    python -m bench.ensemble_speed --threads 1
    python -m bench.ensemble_speed --threads 1 --models FactorGAN --members 8 --profile
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import common_args, device_of, parse_opts, sync
from PairedMNIST import PairedMNIST, build_gan, pair_pools
from training.ensemble import Ensemble, ensemble_train_step
from training.loop import LoopConfig, TrainState, train_step
from training.models_registry import model_flags

Step = Callable[[], object]


def gemm_gmacs(size: int = 2048, repeats: int = 3) -> float:
    """fp32 matrix-product speed with the current threads: best of repeats (GMAC/s);
    measured in every round, its best is the machine's peak (noise only slows it)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return size**3 / best / 1e9


def build_states(model: str, count: int, images: torch.Tensor, labels: torch.Tensor,
                 device: torch.device) -> list[TrainState]:
    """count training states as PairedMNIST.py builds them (100 pairs, lambda 0.9),
    seeds 0, 1, ...; they share one set of (stateless) pools to save memory."""
    opts = parse_opts(PairedMNIST().add_options, [*model_flags(model), "--num_joint_samples", "100"])
    pool_for, _ = pair_pools("fixed", images, labels, opts.num_joint_samples, 0.9, 0, device)
    states = []
    for seed in range(count):
        torch.manual_seed(seed)
        setup = build_gan(opts, device, pool_for)
        states.append(TrainState.create(setup, opts.lr, opts.beta1, opts.L2, seed=seed))
    return states


def macs_per_update(state: TrainState, cfg: LoopConfig) -> float:
    """Multiply-accumulates of one generator update (with its discriminator rounds)."""
    with FlopCounterMode(display=False) as counter:
        train_step(state, cfg)
    return counter.get_total_flops() / 2


def make_steps(models: Sequence[str], sizes: Sequence[int], images: torch.Tensor, labels: torch.Tensor,
               device: torch.device, cfg: LoopConfig) -> dict[tuple[str, int], tuple[Step, int, Ensemble | None]]:
    """(model, members) -> (one update of the configuration, member updates it makes, the ensemble);
    members 0 is the ordinary single run (training.loop.train_step)."""
    steps: dict[tuple[str, int], tuple[Step, int, Ensemble | None]] = {}
    for model in models:
        (single,) = build_states(model, 1, images, labels, device)
        steps[(model, 0)] = (lambda s=single: train_step(s, cfg), 1, None)
        for size in sizes:
            ensemble = Ensemble(build_states(model, size, images, labels, device))
            steps[(model, size)] = (lambda e=ensemble: ensemble_train_step(e, cfg), size, ensemble)
    return steps


def interleaved(steps: dict, warmup: int, updates: int, rounds: int, device: torch.device) -> dict[tuple, list[float]]:
    """Member updates per second of every configuration, per round (rounds interleaved),
    and under "gemm" the GEMM speed (GMAC/s) of each round (CPU only)."""
    for step, _, _ in steps.values():
        for _ in range(warmup):
            step()
    rates: dict[tuple, list[float]] = {key: [] for key in steps}
    rates["gemm"] = []
    for _ in range(rounds):
        if device.type == "cpu":
            rates["gemm"].append(gemm_gmacs())
        for key, (step, members, _) in steps.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(updates):
                step()
            sync(device)
            rates[key].append(updates * members / (time.perf_counter() - start))
    return rates


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}


def profile(step: Step, updates: int, rows: int) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(updates):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, warmup=20, steps=20, rounds=7)
    p.add_argument("--models", nargs="+", default=["GAN", "FactorGAN"], choices=["GAN", "FactorGAN", "FactorGAN-no-cp"])
    p.add_argument("--members", nargs="+", type=int, default=[1, 4, 8], help="ensemble sizes to time")
    p.add_argument("--profile", action="store_true", help="print the top ops of the largest ensemble of each model")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = device_of(args)
    cfg = LoopConfig(progress=False)
    images = torch.randint(0, 256, (60000, 28, 28), dtype=torch.uint8)  # the speed does not depend on the pixels
    labels = torch.randint(0, 10, (60000,))
    macs = {m: macs_per_update(build_states(m, 1, images, labels, device)[0], cfg) for m in args.models}
    steps = make_steps(args.models, args.members, images, labels, device, cfg)
    rates = interleaved(steps, args.warmup, args.steps, args.rounds, device)
    gemm = rates.pop("gemm")
    peak = max(gemm) if gemm else None
    print(f"threads {torch.get_num_threads()}, {args.rounds} interleaved rounds of {args.steps} updates after "
          f"{args.warmup} warm-up; fp32 GEMM (2048^2 torch.mm) best {peak and round(peak, 1)} GMAC/s, per round "
          f"{[round(g, 1) for g in gemm]}; GMAC per update {({m: round(v / 1e9, 4) for m, v in macs.items()})}",
          flush=True)
    print("| model | members | member updates/s (median, min-max) | x single (median, min-max) | % of GEMM peak |")
    print("|---|---|---|---|---|")
    for (model, members), values in rates.items():
        single = rates[(model, 0)]
        ratio = [v / s for v, s in zip(values, single, strict=True)]
        gmacs = statistics.median(values) * macs[model] / 1e9
        row = {"bench": "PairedMNIST ensemble", "model": model, "members": members or "single run",
               "device": device.type, "threads": torch.get_num_threads(), "batch": cfg.batch_size,
               "updates_per_s": _spread(values), "speedup_vs_single": _spread(ratio),
               "gmac_per_update": round(macs[model] / 1e9, 4), "gmac_per_s": round(gmacs, 2),
               "fraction_of_peak": peak and round(gmacs / peak, 3), "rounds": args.rounds,
               "steps_per_round": args.steps, "torch": torch.__version__}
        print(row, file=sys.stderr, flush=True)
        u, r = row["updates_per_s"], row["speedup_vs_single"]
        print(f"| {model} | {members or 'single run'} | {u['median']} ({u['min']}-{u['max']}) "
              f"| {r['median']} ({r['min']}-{r['max']}) | {100 * (row['fraction_of_peak'] or 0):.0f} |", flush=True)
    if args.profile:
        for model in args.models:
            step = steps[(model, max(args.members))][0]
            print(profile(step, 10, 20), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
