"""Timing helpers shared by the benchmarks: warm-up, interleaved rounds, medians."""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from training.loop import GANSetup, LoopConfig, TrainState, train_step
from training.options import build_parser
from training.precision import AMP_DTYPES, Precision, compile_in_place

MODES = ("fp32", "bf16", "fp16", "compile")  # --modes: precision (--amp) or torch.compile in float32


def parse_opts(add_options: Callable, argv: Sequence[str]) -> argparse.Namespace:
    """An experiment's options with the given flags (defaults elsewhere)."""
    return build_parser("", add_options).parse_args(list(argv))


def make_state(setup: GANSetup, opts: argparse.Namespace, device: torch.device, mode: str = "fp32") -> TrainState:
    """A training state in one of MODES (compile: the models are compiled in place)."""
    if mode == "compile":
        compile_in_place(setup.generator, setup.discriminator.sub_discriminators())
    precision = Precision(mode if mode in AMP_DTYPES else "none", device)
    return TrainState.create(setup, opts.lr, opts.beta1, opts.L2, seed=0, precision=precision)


def usable_modes(modes: Sequence[str], device: torch.device) -> list[str]:
    """The requested modes this device runs (fp16 needs CUDA), with a note for the others."""
    if "fp16" in modes and device.type != "cuda":
        print('{"note": "fp16 needs CUDA: skipped"}', flush=True)
        return [m for m in modes if m != "fp16"]
    return list(modes)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Calls per second of fn over repeats calls."""
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return repeats / (time.perf_counter() - start)


def interleaved_update_rates(states: dict[str, tuple[TrainState, LoopConfig]], warmup: int, steps: int,
                             rounds: int, device: torch.device) -> dict[str, list[float]]:
    """Generator updates per second of each configuration, measured in
    interleaved rounds after a warm-up, so that noise hits all alike."""
    for state, cfg in states.values():
        timed(lambda s=state, c=cfg: train_step(s, c), warmup, device)
    rates: dict[str, list[float]] = {name: [] for name in states}
    for _ in range(rounds):
        for name, (state, cfg) in states.items():
            rates[name].append(timed(lambda s=state, c=cfg: train_step(s, c), steps, device))
    return rates


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summary(rates: list[float]) -> dict[str, float]:
    return {"updates_per_s_median": round(statistics.median(rates), 3),
            "updates_per_s_min": round(min(rates), 3), "updates_per_s_max": round(max(rates), 3)}


def common_args(p: argparse.ArgumentParser, warmup: int, steps: int, rounds: int) -> None:
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--cuda", action="store_true", help="benchmark on the GPU if available")
    p.add_argument("--warmup", type=int, default=warmup, help="untimed updates per configuration")
    p.add_argument("--steps", type=int, default=steps, help="updates per timed round")
    p.add_argument("--rounds", type=int, default=rounds, help="interleaved timed rounds")


def modes_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--modes", nargs="+", default=["fp32"], choices=MODES,
                   help="precision / compilation modes to time: fp32, bf16 (autocast), fp16 (autocast and grad "
                        "scaling, CUDA only), compile (torch.compile, fp32)")


def device_of(args: argparse.Namespace) -> torch.device:
    torch.set_num_threads(args.threads)
    return torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")
