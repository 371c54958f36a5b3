"""Training throughput of PairedMNIST: generator updates per second.

Every configuration (model x fake-batch mode) is timed in interleaved rounds
after a warm-up, so that machine noise hits all of them alike; the median
round is reported. One JSON line per configuration.

    python -m bench.paired_mnist_speed --threads 1
    python -m bench.paired_mnist_speed --threads 1 --profile   # + op breakdown
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Sequence

import torch

from PairedMNIST import PairedMNIST, build_gan
from training.data import TensorPool
from training.loop import LoopConfig, TrainState, make_optimizers, train_step
from training.options import build_parser

MODELS = {"GAN": ["--factorGAN", "0"], "FactorGAN": ["--factorGAN", "1"],
          "FactorGAN-no-cp": ["--factorGAN", "1", "--use_real_dep_disc", "0"]}


def make_state(model: str, device: torch.device, extra: Sequence[str]) -> tuple[TrainState, argparse.Namespace]:
    opts = build_parser("", PairedMNIST().add_options).parse_args([*MODELS[model], *extra])
    torch.manual_seed(0)
    # random digits: the speed does not depend on the pixel values
    pairs = torch.randint(0, 256, (60000, 1568), dtype=torch.uint8, device=device)
    setup = build_gan(opts, device, paired=TensorPool(pairs[: opts.num_joint_samples]), marginal=TensorPool(pairs))
    opt_g, opt_d = make_optimizers(setup, opts.lr, opts.beta1, opts.L2)
    rng = torch.Generator(device=device).manual_seed(0)
    return TrainState(setup, opt_g, opt_d, rng), opts


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_steps(state: TrainState, cfg: LoopConfig, steps: int, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(state, cfg)
    sync(device)
    return steps / (time.perf_counter() - start)


def profile(state: TrainState, cfg: LoopConfig, steps: int, rows: int) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train_step(state, cfg)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--cuda", action="store_true")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--modes", nargs="+", default=["shared", "per_disc"], choices=["shared", "per_disc"])
    p.add_argument("--warmup", type=int, default=50, help="untimed updates per configuration")
    p.add_argument("--steps", type=int, default=100, help="updates per timed round")
    p.add_argument("--rounds", type=int, default=7, help="interleaved timed rounds")
    p.add_argument("--profile", action="store_true", help="print the top ops of each configuration")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")
    configs = {}
    for model in args.models:
        for mode in args.modes:
            state, opts = make_state(model, device, [])
            cfg = LoopConfig(batch_size=opts.batchSize, disc_iter=opts.disc_iter, fake_batches=mode)
            timed_steps(state, cfg, args.warmup, device)
            configs[(model, mode)] = (state, cfg, [])
    for _ in range(args.rounds):
        for state, cfg, rates in configs.values():
            rates.append(timed_steps(state, cfg, args.steps, device))
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    for (model, mode), (state, cfg, rates) in configs.items():
        print(json.dumps({
            "bench": "PairedMNIST", "model": model, "fake_batches": mode, "device": device.type,
            "threads": torch.get_num_threads(), "batch": cfg.batch_size,
            "updates_per_s_median": round(statistics.median(rates), 2),
            "updates_per_s_min": round(min(rates), 2), "updates_per_s_max": round(max(rates), 2),
            "rounds": args.rounds, "steps_per_round": args.steps,
            "peak_memory_mib": round(peak, 1), "torch": torch.__version__,
        }), flush=True)
        if args.profile:
            print(profile(state, cfg, 50, 15), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
