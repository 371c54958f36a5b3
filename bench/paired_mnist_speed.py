"""Training throughput of PairedMNIST: generator updates per second.

Every configuration (model x fake-batch mode x precision mode) is timed in interleaved rounds
after a warm-up, so that machine noise hits all of them alike; the median
round is reported. One JSON line per configuration.

    python -m bench.paired_mnist_speed --threads 1
    python -m bench.paired_mnist_speed --threads 1 --profile   # + op breakdown
    python -m bench.paired_mnist_speed --threads 1 --models FactorGAN --modes fp32 bf16 compile
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import torch

from bench.common import (
    common_args,
    device_of,
    interleaved_update_rates,
    make_state,
    modes_arg,
    parse_opts,
    peak_memory_mib,
    summary,
    usable_modes,
)
from PairedMNIST import PairedMNIST, build_gan
from training.data import TensorPool
from training.loop import LoopConfig, TrainState, train_step

MODELS = {"GAN": ["--factorGAN", "0"], "FactorGAN": ["--factorGAN", "1"],
          "FactorGAN-no-cp": ["--factorGAN", "1", "--use_real_dep_disc", "0"]}


def build_state(model: str, device: torch.device, pairs: torch.Tensor, mode: str = "fp32") -> TrainState:
    opts = parse_opts(PairedMNIST().add_options, MODELS[model])
    torch.manual_seed(0)
    setup = build_gan(opts, device, paired=TensorPool(pairs[: opts.num_joint_samples]), marginal=TensorPool(pairs))
    return make_state(setup, opts, device, mode)


def profile(state: TrainState, cfg: LoopConfig, steps: int, rows: int) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train_step(state, cfg)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, warmup=50, steps=100, rounds=7)
    modes_arg(p)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--fake_batches", nargs="+", default=["shared", "per_disc"], choices=["shared", "per_disc"],
                   help="one generated batch per discriminator round (shared) or one per sub-discriminator")
    p.add_argument("--profile", action="store_true", help="print the top ops of each configuration")
    args = p.parse_args(argv)
    device = device_of(args)
    # random digits: the speed does not depend on the pixel values
    pairs = torch.randint(0, 256, (60000, 1568), dtype=torch.uint8, device=device)
    states = {(model, fake, mode): (build_state(model, device, pairs, mode), LoopConfig(fake_batches=fake))
              for model in args.models for fake in args.fake_batches for mode in usable_modes(args.modes, device)}
    rates = interleaved_update_rates(states, args.warmup, args.steps, args.rounds, device)
    for (model, fake, mode), (state, cfg) in states.items():
        print(json.dumps({
            "bench": "PairedMNIST", "model": model, "fake_batches": fake, "mode": mode, "device": device.type,
            "threads": torch.get_num_threads(), "batch": cfg.batch_size, **summary(rates[(model, fake, mode)]),
            "rounds": args.rounds, "steps_per_round": args.steps,
            "peak_memory_mib": round(peak_memory_mib(device), 1), "torch": torch.__version__,
        }), flush=True)
        if args.profile:
            print(profile(state, cfg, 50, 15), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
