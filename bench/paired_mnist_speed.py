"""Training throughput of PairedMNIST: generator updates per second.

Every configuration (model x fake-batch mode x precision mode x pairing x
spectral-norm implementation) is timed in interleaved rounds after a warm-up,
so that machine noise hits all of them alike; the median round is reported.
One JSON line per configuration.

    python -m bench.paired_mnist_speed --threads 1
    python -m bench.paired_mnist_speed --threads 1 --profile   # + op breakdown
    python -m bench.paired_mnist_speed --threads 1 --models FactorGAN --modes fp32 bf16 compile
    python -m bench.paired_mnist_speed --threads 1 --models FactorGAN --pairings fixed reference
    python -m bench.paired_mnist_speed --threads 1 --models GAN FactorGAN --sn_impls scaled torch
"""

from __future__ import annotations

import argparse
import itertools
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
from models.mnist_classifier import MNISTClassifier
from models.spectral import SN_IMPLS
from PairedMNIST import PairedMNIST, build_gan, pair_pools
from training.loop import LoopConfig, TrainState, train_step
from training.models_registry import model_flags, models_of

MODELS = models_of("PairedMNIST")


def build_state(model: str, mode: str, pairing: str, sn_impl: str, device: torch.device, images: torch.Tensor,
                labels: torch.Tensor) -> TrainState:
    """A training state as PairedMNIST.py builds it (100 pairs), on random digits
    (images: (N, 28, 28) uint8 and labels (N,) on the CPU, as loaded from MNIST);
    SCoGAN's classifier is untrained (its speed is the same)."""
    opts = parse_opts(PairedMNIST().add_options, [*model_flags(model), "--num_joint_samples", "100",
                                                  "--sn_impl", sn_impl])
    pool_for, _ = pair_pools(pairing, images, labels, opts.num_joint_samples, 0.9, 0, device)
    torch.manual_seed(0)
    setup = build_gan(opts, device, pool_for, classifier=lambda: MNISTClassifier().to(device))  # SCoGAN's
    return make_state(setup, opts, device, mode)


def profile(state: TrainState, cfg: LoopConfig, steps: int, rows: int) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train_step(state, cfg)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, warmup=50, steps=100, rounds=7)
    modes_arg(p)
    p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    p.add_argument("--fake_batches", nargs="+", default=["shared"], choices=["shared", "per_disc"],
                   help="one generated batch per discriminator round (shared) or one per sub-discriminator")
    p.add_argument("--pairings", nargs="+", default=["fixed"], choices=["fixed", "reference"],
                   help="--pairing modes (reference: lower digits redrawn every pass)")
    p.add_argument("--sn_impls", nargs="+", default=["scaled"], choices=list(SN_IMPLS),
                   help="spectral-norm implementations (models/spectral.py; PairedMNIST.py --sn_impl)")
    p.add_argument("--profile", action="store_true", help="print the top ops of each configuration")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = device_of(args)
    # random digits: the speed does not depend on the pixel values
    images = torch.randint(0, 256, (60000, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (60000,))
    configs = itertools.product(args.models, args.fake_batches, usable_modes(args.modes, device), args.pairings,
                                args.sn_impls)
    states = {c: (build_state(c[0], *c[2:], device, images, labels), LoopConfig(fake_batches=c[1])) for c in configs}
    rates = interleaved_update_rates(states, args.warmup, args.steps, args.rounds, device)
    for key, (state, cfg) in states.items():
        print(json.dumps({
            "bench": "PairedMNIST", **dict(zip(("model", "fake_batches", "mode", "pairing", "sn_impl"), key, strict=True)),
            "device": device.type, "threads": torch.get_num_threads(), "batch": cfg.batch_size, **summary(rates[key]),
            "rounds": args.rounds, "steps_per_round": args.steps,
            "peak_memory_mib": round(peak_memory_mib(device), 1), "torch": torch.__version__,
        }), flush=True)
        if args.profile:
            print(profile(state, cfg, 50, 15), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
