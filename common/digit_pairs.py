"""The layout of a Paired MNIST sample: two 28x28 digits flattened one after
the other, upper digit first (shared by the data set and its metric)."""

from __future__ import annotations

from torch import Tensor

DIGIT_PIXELS = 28 * 28


def split_digits(pairs: Tensor) -> tuple[Tensor, Tensor]:
    """(N, 1568) pairs -> upper and lower digits, each (N, 1, 28, 28)."""
    digits = pairs.reshape(pairs.shape[0], 2, 1, 28, 28)
    return digits[:, 0], digits[:, 1]
