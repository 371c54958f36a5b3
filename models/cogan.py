"""Coupled GAN (Liu & Tuzel, 2016) for image pairs: the CoGAN baseline.

Two generators share their first (high-level) layers and emit image A and
image B; two discriminators share their last layers. Trained on unpaired A
and B images only, the weight sharing alone ties the two images together.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from models.conv import _levels
from models.spectral import maybe_spectral_norm


class CoupledGenerator(nn.Module):
    """z: (B, nz) -> (B, a_channels + b_channels, size, size) in [0, 1], A first.

    The DCGAN-style generator of ImagePairs with every layer but the last two
    shared; each branch has its own last two transposed convs.
    """

    def __init__(self, nz: int, a_channels: int, b_channels: int, image_size: int = 64,
                 channels: int = 64) -> None:
        super().__init__()
        levels = _levels(image_size)
        widths = [channels * 2 ** i for i in range(levels, -1, -1)]
        trunk: list[nn.Module] = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0), nn.ReLU(inplace=True)]
        for cin, cout in itertools.pairwise(widths[:-1]):
            trunk += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.ReLU(inplace=True)]
        self.shared = nn.Sequential(*trunk)

        def branch(out_channels: int) -> nn.Sequential:
            return nn.Sequential(nn.ConvTranspose2d(widths[-2], widths[-1], 4, 2, 1), nn.ReLU(inplace=True),
                                 nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1), nn.Sigmoid())

        self.branch_a, self.branch_b = branch(a_channels), branch(b_channels)

    def forward(self, z: Tensor) -> Tensor:
        h = self.shared(z[:, :, None, None])
        return torch.cat([self.branch_a(h), self.branch_b(h)], dim=1)


class _Coupled(nn.Module):
    """One of the coupled discriminators: its own first conv, the shared rest."""

    def __init__(self, head: nn.Module, tail: nn.Module) -> None:
        super().__init__()
        self.head, self.tail = head, tail

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.head(x)).squeeze(1)


def coupled_discriminators(a_channels: int, b_channels: int, image_size: int = 64, channels: int = 32,
                           spectral_norm: bool = True) -> tuple[nn.Module, nn.Module]:
    """Two conv discriminators (as ImagePairs') for A and B images whose layers
    after the first are one shared set of parameters. Each: (B, C, H, W) -> (B,)."""
    levels = _levels(image_size)
    widths = [channels * 2 ** i for i in range(levels + 1)]

    def head(cin: int) -> nn.Sequential:
        return nn.Sequential(maybe_spectral_norm(nn.Conv2d(cin, widths[0], 4, 2, 1), spectral_norm), nn.LeakyReLU())

    layers: list[nn.Module] = []
    for cin, cout in itertools.pairwise(widths):
        layers += [maybe_spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1), spectral_norm), nn.LeakyReLU()]
    tail = nn.Sequential(*layers, nn.Flatten(),
                         maybe_spectral_norm(nn.Linear(widths[-1] * 16, 1, bias=False), spectral_norm))
    return _Coupled(head(a_channels), tail), _Coupled(head(b_channels), tail)
