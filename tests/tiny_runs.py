"""Every task's models on tiny synthetic data, on any device: shared by the
device placement tests (CPU) and the GPU tests (tests/test_cuda.py).

PairedMNIST, ImagePairs and Image2Image are built by their entry scripts
from the synthetic folders of tests/conftest.py; AudioSeparation's models by
its build_gan from random spectrogram pools (no MUSDB18, no ffmpeg).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from AudioSeparation import SNIPPET, SNIPPET_HOP, AudioSeparation
from AudioSeparation import build_gan as audio_gan
from datasets.musdb_spectrograms import snippet_starts
from Image2Image import Image2Image
from ImagePairs import ImagePairs
from PairedMNIST import PairedMNIST
from tests.conftest import write_pix2pix
from training.data import SnippetPool
from training.loop import GANSetup
from training.models_registry import EXPERIMENTS, model_flags, models_of
from training.options import build_parser
from training.runner import Experiment

EXPERIMENT_CLASSES: dict[str, type[Experiment]] = {
    "PairedMNIST": PairedMNIST, "ImagePairs": ImagePairs, "Image2Image": Image2Image,
    "AudioSeparation": AudioSeparation}
# every (task, model) the entry scripts offer, as pytest ids "Task/model"
TASK_MODELS = [(task, model) for task in EXPERIMENTS for model in models_of(task)]
AUDIO_BINS, AUDIO_FRAMES = 32, 300  # --fft_size 64; three 128-frame snippets
# whole runs (main(): data, training, checkpoints, evaluation) that pass through the most code
WHOLE_RUNS = {"PairedMNIST": ["--factorGAN", "1", "--pairing", "reference"],
              "ImagePairs": ["--factorGAN", "1"],
              "Image2Image": ["--factorGAN", "1", "--eval_every", "2", "--eval_subset", "3"]}


def write_data(root: Path) -> Path:
    """The synthetic pix2pix folders the image tasks read (MNIST: the mnist_root fixture)."""
    write_pix2pix(root, "edges2shoes", n_train=10, n_val=10)
    write_pix2pix(root, "cityscapes", n_train=10, n_val=6, seed=3)
    return root


def run_args(task: str, mnist_root: Path, pix_root: Path, out: Path, *extra: str) -> list[str]:
    """Command-line arguments of a tiny run of task: 2 epochs of 2 updates,
    batches of 4, the smallest widths and evaluation counts (no AudioSeparation:
    its runs need MUSDB18 files)."""
    common = ["--out_path", str(out), "--cache_dir", str(out / "cache"), "--epochs", "2", "--epoch_iter", "2",
              "--batchSize", "4", "--no_progress", "--log_every", "1", "--num_joint_samples", "3"]
    if task == "PairedMNIST":
        return ["--data_root", str(mnist_root), *common, "--eval_samples", "100", *extra]
    images = ["--data_root", str(pix_root), *common, "--loadSize", "16", "--generator_channels", "4",
              "--disc_channels", "4"]
    if task == "ImagePairs":
        return [*images, "--ls_channels", "4", "--ls_runs", "1", "--ls_epochs", "1", "--num_generated", "5", *extra]
    if task == "Image2Image":
        return [*images, "--num_examples", "4", *extra]
    raise ValueError(f"no tiny run of {task}")


def parse(task: str, argv: list[str]) -> argparse.Namespace:
    return build_parser("", EXPERIMENT_CLASSES[task]().add_options).parse_args(argv)


def audio_setup(model: str, device: torch.device, seed: int = 0, extra: tuple[str, ...] = ()) -> GANSetup:
    """AudioSeparation's generator and discriminators for model on random
    (1 + 2, 32, 300) spectrograms (mixture, accompaniment, vocals; the paired
    songs: the first 200 frames), on device, with further options extra."""
    opts = parse("AudioSeparation", [*model_flags(model), "--fft_size", "64", "--generator_channels", "2",
                                     "--disc_channels", "2", *extra])
    data = torch.rand(3, AUDIO_BINS, AUDIO_FRAMES, generator=torch.Generator().manual_seed(seed)).to(device)

    def pools(x: torch.Tensor) -> tuple[SnippetPool, SnippetPool]:
        starts = torch.tensor(snippet_starts(x.shape[-1], SNIPPET, SNIPPET_HOP))
        return SnippetPool(x[:1], starts, SNIPPET), SnippetPool(x[1:], starts, SNIPPET)

    return audio_gan(opts, device, pools(data[:, :, :200]), pools(data))


def tiny_setup(task: str, model: str, device: torch.device, mnist_root: Path, pix_root: Path,
               out: Path, *extra: str) -> GANSetup:
    """The setup (models, pools, inputs) that task's build() makes for model on
    the tiny data, with further options extra."""
    if task == "AudioSeparation":
        return audio_setup(model, device, extra=extra)
    opts = parse(task, run_args(task, mnist_root, pix_root, out, *model_flags(model), *extra))
    torch.manual_seed(0)
    setup, _ = EXPERIMENT_CLASSES[task]().build(opts, device)
    return setup
