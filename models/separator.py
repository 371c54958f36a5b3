"""The mask-based source separator of the AudioSeparation experiment (paper App. A.2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from common.spectrogram import denormalise, normalise


class MaskSeparator(nn.Module):
    """(mix, z) -> (B, 2, F, T) normalised (accompaniment, vocals).

    mix: (B, 1, F, T) log1p-normalised mixture magnitudes; the predictor maps
    (mix, z) to a mask m in [0, 1] of the same shape. On un-normalised
    magnitudes, accompaniment = mix * m and vocals = mix * (1 - m), so the
    sources always add up to the mixture; both are re-normalised.
    """

    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor

    def forward(self, mix: Tensor, z: Tensor) -> Tensor:
        mask = self.predictor(mix, z)
        mag = denormalise(mix)
        return torch.cat([normalise(mag * mask), normalise(mag * (1 - mask))], dim=1)
