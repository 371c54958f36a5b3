"""Interfaces shared by training and evaluation."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class GeneratorInput(Protocol):
    """Draws a generator's inputs: sample(B, rng) -> tensors with B rows each, e.g. (z,) or (cond, z)."""

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, ...]: ...
