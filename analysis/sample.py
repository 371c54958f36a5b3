"""Draw samples of a trained generator for anyone's own evaluator.

    python -m analysis.sample --generator releases/paired_mnist/FactorGAN_100_0.9_b1.0_s1337.pt \\
        --n 10000 --out samples.npz [--seed 0] [--cuda]

writes ``samples``, uint8 (values round(255 x)): (N, parts, 28, 28) for
PairedMNIST generators (2 digits, upper first; 4 with --layout 2x2, in the
order upper-left, lower-left, upper-right, lower-right) and (N, C, H, W) for
ImagePairs generators (A's channels, then B's). The generator file is a
released one (analysis.release) or a run's checkpoints/G.pt beside its
config.json: the options saved with it build the network. Conditional
generators (Image2Image, AudioSeparation) need an input per sample and are
refused: score them with their entry script's --eval --generator FILE.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.errors import UserError
from eval.sampling import generate
from training.data import NoiseInput, TensorPool
from training.loop import GANSetup

DIGIT_SIDE = 28
UNCONDITIONAL = ("PairedMNIST", "ImagePairs")
CONDITIONAL = ("Image2Image", "AudioSeparation")


def task_of(options: dict, recorded: str | None, given: str | None) -> str:
    """The task that trained a generator: --task, else the one its file
    records, else PairedMNIST or ImagePairs told apart by their own options."""
    task = given or recorded
    if task is None:
        if "mnist_same_digit_prob" in options:
            task = "PairedMNIST"
        elif "ls_runs" in options:
            task = "ImagePairs"
    if task is None:
        raise UserError("cannot tell which task trained this generator: give --task")
    if task in CONDITIONAL:
        raise UserError(f"{task} generators are conditional: each sample needs an input (a photo, a mixture) "
                        f"that this sampler does not take; score them with `python {task}.py --eval --generator FILE`")
    if task not in UNCONDITIONAL:
        raise UserError(f"--task must be one of {', '.join(UNCONDITIONAL)}, got {task!r}")
    return task


def build_generator(task: str, saved: dict, device: torch.device) -> tuple[nn.Module, int]:
    """The generator that the saved options build (untrained), and its nz.
    Options missing from older files take the entry script's defaults."""
    from training.options import build_parser

    if task == "PairedMNIST":
        from PairedMNIST import PairedMNIST as Exp
        from PairedMNIST import generator_setup
    else:
        from ImagePairs import ImagePairs as Exp
        from ImagePairs import build_gan, channels_of

        def generator_setup(opts: argparse.Namespace, device: torch.device) -> GANSetup:
            return build_gan(opts, device, channels_of(opts), TensorPool(torch.zeros(1)), TensorPool(torch.zeros(1)))
    opts = build_parser(Exp.description, Exp().add_options).parse_args([])
    for key, value in saved.items():
        setattr(opts, key, value)
    opts.eval = True  # no training terms (SCoGAN's classifier), no data
    return generator_setup(opts, device).generator, opts.nz


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Values in [0, 1] -> uint8 round(255 x) (clamped)."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def sample_file(path: Path, n: int, seed: int = 0, device: torch.device | None = None,
                task: str | None = None) -> np.ndarray:
    """The samples of the generator in path as uint8 (see the module's docstring)."""
    from common.io import load_checkpoint
    from training.options import generator_options
    from training.runner import check_fits

    device = device or torch.device("cpu")
    saved, recorded = generator_options(path)
    task = task_of(saved, recorded, task)
    generator, nz = build_generator(task, saved, device)
    state = load_checkpoint(path, device, keys=("generator",))
    check_fits(generator, state["generator"], path, task)
    generator.load_state_dict(state["generator"])
    with torch.no_grad():
        x = generate(generator.eval(), NoiseInput(nz), n, torch.Generator(device=device).manual_seed(seed))
    if task == "PairedMNIST":  # (n, parts * 784) -> (n, parts, 28, 28)
        x = x.reshape(n, -1, DIGIT_SIDE, DIGIT_SIDE)
    return to_uint8(x)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", required=True, help="a released generator file or a run's checkpoints/G.pt")
    p.add_argument("--n", type=int, required=True, help="how many samples")
    p.add_argument("--out", required=True, help="the .npz file to write (array 'samples')")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator's noise")
    p.add_argument("--cuda", action="store_true", help="sample on the GPU")
    p.add_argument("--task", choices=[*UNCONDITIONAL, *CONDITIONAL], default=None,
                   help="the task that trained the generator (default: the one its file or manifest records)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.n < 1:
            raise UserError(f"--n must be at least 1, got {args.n}")
        if args.cuda and not torch.cuda.is_available():
            raise UserError("--cuda given but no CUDA device is available; drop --cuda to sample on the CPU")
        device = torch.device("cuda" if args.cuda else "cpu")
        samples = sample_file(Path(args.generator), args.n, args.seed, device, args.task)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, samples=samples)
    print(f"wrote {out}: samples {samples.dtype} {samples.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
