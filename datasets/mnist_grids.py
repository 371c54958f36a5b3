"""Four MNIST digits in a 2x2 grid (issue 36; paper App. A.3's open question).

A grid is two PairedMNIST columns side by side, stored as a flat vector of
4 x 784 values in the order upper-left, lower-left, upper-right, lower-right
(``POSITIONS``). Grid i's upper-left digit is training image i; each lower
digit has its upper digit's class with probability lambda and another class
otherwise (the pairs' rule, ``draw_lower_indices``); the upper-right digit has
class (upper-left + 1) mod 10 with probability mu and another class
otherwise. "Another class" is drawn from the class frequencies without the
linked class; the image is a uniformly random one of the class. All grids
are drawn once from a seeded generator.
"""

from __future__ import annotations

import torch
from torch import Tensor

from common.digit_pairs import DIGIT_PIXELS, GRID_DIM
from common.digit_pairs import GRID_COLUMNS as COLUMNS
from common.digit_pairs import GRID_POSITIONS as POSITIONS
from datasets.mnist_pairs import draw_linked_indices

__all__ = ["COLUMNS", "GRID_DIM", "POSITIONS", "draw_grid_indices", "grid_image", "make_grids", "observed_split"]


def draw_grid_indices(labels: Tensor, same_digit_prob: float, column_link_prob: float,
                      generator: torch.Generator) -> Tensor:
    """labels: (N,) classes of the set -> (N, 4) int64 indices into it, one
    grid per image (the upper-left), columns as in POSITIONS."""
    if torch.bincount(labels, minlength=10).min() == 0:
        raise ValueError("the grids' rule needs every class among the labels (a linked class may be any)")
    n = labels.shape[0]
    ul = torch.arange(n, device=labels.device)
    ll = draw_linked_indices(labels, labels, same_digit_prob, generator)
    ur = draw_linked_indices(labels, (labels + 1) % 10, column_link_prob, generator)
    lr = draw_linked_indices(labels, labels[ur], same_digit_prob, generator)
    return torch.stack([ul, ll, ur, lr], dim=1)


def make_grids(images: Tensor, indices: Tensor) -> Tensor:
    """images (N, 28, 28), indices (M, 4) -> (M, 3136) grids, positions in POSITIONS order."""
    flat = images.reshape(images.shape[0], DIGIT_PIXELS)
    return flat[indices.reshape(-1)].reshape(indices.shape[0], GRID_DIM)


def grid_image(grids: Tensor) -> Tensor:
    """grids (B, 3136) -> (B, 1, 56, 56) images: the left column beside the right one."""
    d = grids.reshape(grids.shape[0], 4, 1, 28, 28)
    left, right = torch.cat([d[:, 0], d[:, 1]], dim=2), torch.cat([d[:, 2], d[:, 3]], dim=2)
    return torch.cat([left, right], dim=3)


def observed_split(grids: Tensor, num_joint: int, num_columns: int) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
    """What a 2x2 run observes, disjoint by grid: the first num_joint grids
    complete, the next num_columns as columns alone (both columns of each;
    each column a block of 1568 values), and every digit of the rest alone.

    grids: (N, 3136) -> complete (num_joint, 3136), columns {"left", "right"}:
    (num_columns, 1568), digits {position: (N - num_joint - num_columns, 784)}.
    Together they hold every training digit once per position.
    """
    if num_joint < 1 or num_columns < 0 or num_joint + num_columns > grids.shape[0]:
        raise ValueError(f"need 1 <= num_joint and num_joint + num_columns <= {grids.shape[0]}, "
                         f"got {num_joint} and {num_columns}")
    cut = num_joint + num_columns
    half = 2 * DIGIT_PIXELS
    columns = {"left": grids[num_joint:cut, :half], "right": grids[num_joint:cut, half:]}
    digits = {p: grids[cut:, k * DIGIT_PIXELS:(k + 1) * DIGIT_PIXELS] for k, p in enumerate(POSITIONS)}
    return grids[:num_joint], columns, digits
