"""CycleGAN (Zhu et al., 2017) for Cityscapes photo <-> map: the CycleGAN baseline."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CycleGenerator(nn.Module):
    """Two translators, photo -> map (`predictor`) and map -> photo (`backward`).

    (photos, maps, z) -> (B, 6, H, W) = (backward(maps), predictor(photos)),
    i.e. a generated photo and a generated map, in the layout of a real pair,
    so that a photo discriminator and a map discriminator can judge the parts.
    """

    def __init__(self, predictor: nn.Module, backward: nn.Module) -> None:
        super().__init__()
        self.predictor, self.backward = predictor, backward

    def forward(self, photos: Tensor, maps: Tensor, z: Tensor) -> Tensor:
        return torch.cat([self.backward(maps, z), self.predictor(photos, z)], dim=1)
