"""Tensor conversions shared by data, training and metrics."""

from __future__ import annotations

import torch
from torch import Tensor


def as_float(x: Tensor) -> Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1]; float tensors pass unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x
