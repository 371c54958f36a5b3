"""AudioSeparation: training throughput (GAN, FactorGAN) and pre-processing time.

Training runs on random spectrogram snippets (256 bins x 128 frames) with the
paper's sizes and a small CPU size; pre-processing converts one minute of
synthetic 44.1 kHz stereo audio (3 sources) as ``song_spectrograms`` does.

    python -m bench.audio_speed --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from AudioSeparation import SNIPPET, AudioSeparation, build_gan
from bench.common import (
    common_args,
    device_of,
    interleaved_update_rates,
    make_state,
    parse_opts,
    peak_memory_mib,
    summary,
)
from common.spectrogram import STFTSettings
from datasets.musdb_spectrograms import magnitude, to_mono
from training.data import SnippetPool
from training.loop import LoopConfig
from training.models_registry import model_flags

SIZES = {"paper": ["--generator_channels", "32", "--disc_channels", "32", "--batchSize", "25"],
         "cpu": ["--generator_channels", "8", "--disc_channels", "8", "--batchSize", "8"]}
MODELS = ("GAN", "FactorGAN")


def preprocessing_seconds_per_minute(repeats: int = 3) -> float:
    """Median time to turn one minute of 3-source stereo audio into spectrograms."""
    rng = np.random.default_rng(0)
    audio = [rng.standard_normal((44100 * 60, 2)).astype(np.float32) for _ in range(3)]
    s = STFTSettings()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for a in audio:
            magnitude(to_mono(a, 44100, s.sample_rate), s)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, warmup=2, steps=3, rounds=3)
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = device_of(args)
    data = torch.rand(3, 256, 4000, device=device)
    starts = torch.arange(0, 4000 - SNIPPET, 64)
    pools = (SnippetPool(data[:1], starts, SNIPPET), SnippetPool(data[1:], starts, SNIPPET))
    states = {}
    for size in args.sizes:
        for model in MODELS:
            opts = parse_opts(AudioSeparation().add_options, [*model_flags(model), *SIZES[size]])
            torch.manual_seed(0)
            setup = build_gan(opts, device, pools, pools)
            states[(model, size)] = (make_state(setup, opts, device), LoopConfig(batch_size=opts.batchSize))
    rates = interleaved_update_rates(states, args.warmup, args.steps, args.rounds, device)
    for (model, size), (_, cfg) in states.items():
        print(json.dumps({"bench": "AudioSeparation", "model": model, "size": size, "device": device.type,
                          "threads": torch.get_num_threads(), "batch": cfg.batch_size, **summary(rates[(model, size)]),
                          "peak_memory_mib": round(peak_memory_mib(device), 1)}), flush=True)
    print(json.dumps({"bench": "AudioSeparation", "preprocessing_s_per_audio_minute":
                      round(preprocessing_seconds_per_minute(), 3), "threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
