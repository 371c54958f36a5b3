"""Saving generated image pairs as pictures."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torchvision.utils import save_image


def as_rgb(x: Tensor) -> Tensor:
    """(N, 1 or 3, H, W) -> (N, 3, H, W): grey images repeated to RGB."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def pairs_to_rgb(x: Tensor, a_channels: int) -> Tensor:
    """x: (B, C, H, W) joint samples, input first -> (B, 3, H, 2W) input | output.

    Grey (1-channel) parts are repeated to RGB.
    """
    return torch.cat([as_rgb(x[:, :a_channels]), as_rgb(x[:, a_channels:])], dim=3)


def save_pairs(x: Tensor, a_channels: int, folder: Path, grid_size: int = 64) -> None:
    """One PNG per pair (folder/0000.png, ...) and folder/grid.png of the first grid_size."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = pairs_to_rgb(x.detach().float().cpu(), a_channels)
    for i, img in enumerate(rgb):
        save_image(img, str(folder / f"{i:04d}.png"))
    save_image(rgb[:grid_size], str(folder / "grid.png"), nrow=8, padding=2, pad_value=1.0)
