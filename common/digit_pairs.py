"""The layout of a Paired MNIST sample: two 28x28 digits flattened one after
the other, upper digit first (shared by the data set and its metric); and of
a 2x2 grid (--layout 2x2): four digits, the left column then the right one."""

from __future__ import annotations

from torch import Tensor

DIGIT_PIXELS = 28 * 28
GRID_POSITIONS = ("ul", "ll", "ur", "lr")  # a grid's storage order: upper-left, lower-left, upper-right, lower-right
GRID_COLUMNS = {"left": ("ul", "ll"), "right": ("ur", "lr")}
GRID_DIM = len(GRID_POSITIONS) * DIGIT_PIXELS


def split_digits(pairs: Tensor) -> tuple[Tensor, Tensor]:
    """(N, 1568) pairs -> upper and lower digits, each (N, 1, 28, 28)."""
    digits = pairs.reshape(pairs.shape[0], 2, 1, 28, 28)
    return digits[:, 0], digits[:, 1]
