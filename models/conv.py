"""Convolutional generator and discriminator of the ImagePairs experiment
(paper App. A.1, Tables 4 and 5; DCGAN-style)."""

from __future__ import annotations

import itertools
import math

from torch import Tensor, nn

from models.spectral import maybe_spectral_norm


def _levels(image_size: int) -> int:
    """Number of stride-2 stages between 8x8 and image_size (64 -> 3)."""
    levels = math.log2(image_size) - 3
    if image_size < 8 or levels != int(levels):
        raise ValueError(f"image size must be a power of two >= 8, got {image_size}")
    return int(levels)


class ConvGenerator(nn.Module):
    """z: (B, nz) -> (B, out_channels, image_size, image_size) in [0, 1].

    A transposed conv maps z to 4x4 with 2^L * channels maps, L stride-2
    transposed convs halve the channels while doubling the size, and a last
    one doubles the size to image_size; ReLU inside, sigmoid output.
    """

    def __init__(self, nz: int, out_channels: int, image_size: int = 64, channels: int = 64) -> None:
        super().__init__()
        levels = _levels(image_size)
        widths = [channels * 2 ** i for i in range(levels, -1, -1)]  # 8c, 4c, 2c, c for 64x64
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0), nn.ReLU(inplace=True)]
        for cin, cout in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class ConvDiscriminator(nn.Module):
    """x: (B, in_channels, height, width) -> (B,) logits, or (B, outputs) when
    outputs is given (an encoder).

    Stride-2 4x4 convs from `channels` maps, doubling them at every stage until
    the shorter side is 4, LeakyReLU (slope 0.01, as the reference), then a
    linear layer to one logit; every layer spectrally normalised when
    spectral_norm is True (by sn_impl, models.spectral.SN_IMPLS). width
    defaults to height (square images).
    """

    def __init__(self, in_channels: int, height: int = 64, channels: int = 32,
                 spectral_norm: bool = True, width: int | None = None, outputs: int | None = None,
                 sn_impl: str = "scaled") -> None:
        super().__init__()
        self.outputs = outputs
        width = width or height
        levels = _levels(min(height, width))
        widths = [channels * 2 ** i for i in range(levels + 1)]
        layers: list[nn.Module] = []
        for cin, cout in zip([in_channels, *widths[:-1]], widths, strict=True):
            layers += [maybe_spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1), spectral_norm, sn_impl), nn.LeakyReLU()]
        self.features = nn.Sequential(*layers, nn.Flatten())
        out_area = (height // 2 ** (levels + 1)) * (width // 2 ** (levels + 1))
        self.fc = maybe_spectral_norm(nn.Linear(widths[-1] * out_area, outputs or 1, bias=False), spectral_norm, sn_impl)

    def forward(self, x: Tensor) -> Tensor:
        out = self.fc(self.features(x))
        return out.squeeze(1) if self.outputs is None else out
