"""ImagePairs and Image2Image (with their baselines): training throughput, and
the time of one LS-metric run.

Random images stand in for the data (speed does not depend on pixel values).
Sizes: the paper's and the CPU protocol's of each experiment.

    python -m bench.image_speed --threads 1
    python -m bench.image_speed --threads 1 --experiments ImagePairs --sizes cpu
    python -m bench.image_speed --threads 1 --experiments Image2Image --sizes cpu --eval
    python -m bench.image_speed --cuda --sizes paper --modes fp32 bf16 fp16 compile
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import torch

import Image2Image
import ImagePairs
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
from eval.ls import ls_distance
from eval.sampling import FreshSamples, WithNoise
from models.conv import ConvDiscriminator
from training.data import TensorPool
from training.loop import LoopConfig
from training.models_registry import model_flags

SIZES = {
    "ImagePairs": {"paper": ["--generator_channels", "64", "--disc_channels", "32"],
                   "cpu": ["--generator_channels", "32", "--disc_channels", "16"]},
    "Image2Image": {"paper": ["--loadSize", "128", "--generator_channels", "32", "--batchSize", "25"],
                    "cpu": ["--loadSize", "64", "--generator_channels", "16", "--batchSize", "16"]},
}
MODELS = {"ImagePairs": ["GAN", "GAN big", "FactorGAN", "CoGAN"],
          "Image2Image": ["GAN", "FactorGAN", "CycleGAN", "pix2pix"]}


def build(experiment: str, flags: list[str], device: torch.device):
    module = ImagePairs if experiment == "ImagePairs" else Image2Image
    opts = parse_opts(getattr(module, experiment)().add_options, flags)
    size = opts.loadSize
    torch.manual_seed(0)
    if experiment == "ImagePairs":
        channels = (1, 3)  # edges2shoes
        images = TensorPool(torch.randint(0, 256, (1000, 4, size, size), dtype=torch.uint8, device=device))
        setup = module.build_gan(opts, device, channels, paired=images, marginal=images)
    else:
        images = torch.randint(0, 256, (500, 6, size, size), dtype=torch.uint8, device=device)
        setup = module.build_gan(opts, device, images[:100], images[:, :3], images[:, 3:])
    return setup, opts


def ls_run_seconds(setup, opts, device: torch.device, val: int = 200) -> float:
    """One LS run (40 epochs on 80 % of `val` random images, batch 25)."""
    data = torch.randint(0, 256, (val, 4, opts.loadSize, opts.loadSize), dtype=torch.uint8, device=device)
    n_train = int(0.8 * val)
    rng = torch.Generator(device=device).manual_seed(0)
    fakes = FreshSamples(setup.generator.eval(), setup.inputs, rng)
    start = time.perf_counter()
    ls_distance(lambda: ConvDiscriminator(4, opts.loadSize, opts.ls_channels, spectral_norm=False).to(device),
                data[:n_train], data[n_train:], fakes, rng, epochs=opts.ls_epochs)
    return time.perf_counter() - start


def eval_seconds(setup, opts, device: torch.device, val: int = 500) -> float:
    """Image2Image evaluation (pixel accuracy and MSE) of the generator on `val` random images."""
    images = torch.randint(0, 256, (val, 6, opts.loadSize, opts.loadSize), dtype=torch.uint8, device=device)
    predictor = WithNoise(setup.generator.eval().predictor, opts.nz, torch.Generator(device=device).manual_seed(0))
    start = time.perf_counter()
    with torch.no_grad():
        Image2Image.score(predictor, images, device)
    return time.perf_counter() - start


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, warmup=1, steps=3, rounds=3)
    modes_arg(p)
    p.add_argument("--experiments", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--sizes", nargs="+", default=["paper", "cpu"], choices=["paper", "cpu"])
    p.add_argument("--models", nargs="+", default=None, help="subset of the models (default: all of each experiment)")
    p.add_argument("--ls", action="store_true", help="also time one LS run (ImagePairs, CPU size)")
    p.add_argument("--eval", action="store_true",
                   help="also time the Image2Image evaluation on 500 validation images (each size)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = device_of(args)
    states, modes = {}, usable_modes(args.modes, device)
    for experiment in args.experiments:
        for size in args.sizes:
            for model in MODELS[experiment]:
                if args.models and model not in args.models:
                    continue
                for mode in modes:
                    setup, opts = build(experiment, [*model_flags(model), *SIZES[experiment][size]], device)
                    states[(experiment, size, model, mode)] = (make_state(setup, opts, device, mode),
                                                               LoopConfig(batch_size=opts.batchSize))
    rates = interleaved_update_rates(states, args.warmup, args.steps, args.rounds, device)
    for key, (_, cfg) in states.items():
        experiment, size, model, mode = key
        print(json.dumps({"bench": experiment, "model": model, "size": size, "mode": mode, "device": device.type,
                          "threads": torch.get_num_threads(), "batch": cfg.batch_size, **summary(rates[key]),
                          "peak_memory_mib": round(peak_memory_mib(device), 1)}), flush=True)
    if args.ls:
        setup, opts = build("ImagePairs", [*model_flags("FactorGAN"), *SIZES["ImagePairs"]["cpu"]], device)
        print(json.dumps({"bench": "ImagePairs", "ls_run_seconds": round(ls_run_seconds(setup, opts, device), 1),
                          "threads": torch.get_num_threads(), "device": device.type}))
    if args.eval:
        for size in args.sizes:
            setup, opts = build("Image2Image", [*model_flags("FactorGAN"), *SIZES["Image2Image"][size]],
                                device)
            print(json.dumps({"bench": "Image2Image", "size": size, "eval_500_seconds":
                              round(eval_seconds(setup, opts, device), 1), "threads": torch.get_num_threads(),
                              "device": device.type}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
