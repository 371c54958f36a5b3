"""Paired MNIST (paper Sec. 4.1): two MNIST digits stacked vertically.

The upper digit of pair i is image i. With probability ``same_digit_prob``
(lambda) the lower digit has the same class; otherwise it has a different class,
drawn in proportion to the class frequencies (the paper's wording; the reference
code could also draw the same class here, see README). The lower image is a
uniformly random image of that class. Pairs are drawn once, from a seeded
generator, for the whole set: no random draws happen while training.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import torch
from torch import Tensor

from training.options import UserError

DIGIT_PIXELS = 28 * 28


def load_mnist(root: str | Path, train: bool) -> tuple[Tensor, Tensor]:
    """MNIST from torchvision's layout under root (downloaded if missing and online).

    Returns images (N, 28, 28) uint8 and labels (N,) int64.
    """
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(str(root), train=train, download=True)
    except (RuntimeError, OSError, urllib.error.URLError) as err:
        raise UserError(
            f"MNIST not found under {Path(root) / 'MNIST' / 'raw'} and could not be downloaded "
            f"({type(err).__name__}): put the four MNIST IDX files (train-images-idx3-ubyte, ...) "
            "there or point --data_root at a folder that has MNIST/raw/"
        ) from None
    return ds.data, ds.targets.long()


def draw_lower_indices(labels: Tensor, same_digit_prob: float, generator: torch.Generator) -> Tensor:
    """For every upper digit i, the index of its lower digit.

    labels: (N,) classes -> (N,) int64 indices into the same set.
    """
    n = labels.shape[0]
    counts = torch.bincount(labels, minlength=10)
    same = torch.rand(n, generator=generator) < same_digit_prob
    other_probs = (counts.double() / n).expand(n, 10).clone()
    other_probs[torch.arange(n), labels] = 0.0
    other = torch.multinomial(other_probs, 1, generator=generator).squeeze(1)
    lower_class = torch.where(same, labels, other)
    # a uniformly random image of lower_class: images grouped by class, then an offset
    order = torch.argsort(labels, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    offset = (torch.rand(n, generator=generator, dtype=torch.float64) * counts[lower_class]).long()
    return order[starts[lower_class] + offset]


def make_pairs(images: Tensor, lower: Tensor) -> Tensor:
    """images (N, 28, 28), lower (N,) -> (N, 1568) joint samples, upper digit first."""
    flat = images.reshape(images.shape[0], DIGIT_PIXELS)
    return torch.cat([flat, flat[lower]], dim=1)


def split_digits(pairs: Tensor) -> tuple[Tensor, Tensor]:
    """(N, 1568) pairs -> upper and lower digits, each (N, 1, 28, 28)."""
    digits = pairs.reshape(pairs.shape[0], 2, 1, 28, 28)
    return digits[:, 0], digits[:, 1]
