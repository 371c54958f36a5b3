"""The U-Net generator of the Image2Image and AudioSeparation experiments
(paper App. A.1, Table 6; Ronneberger et al., 2015)."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def double_conv(cin: int, cout: int) -> nn.Sequential:
    """(3x3 conv, BatchNorm, ReLU) twice; keeps the spatial size."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """(cond, z) -> (B, out_channels, H, W) in [0, 1] (before any wrapper).

    cond: (B, in_channels, H, W) with H and W divisible by 16; z: (B, nz).
    Four max-pool stages with ngf, 2ngf, 4ngf, 8ngf, 8ngf channels; z is mapped
    by a linear layer to `noise_maps` extra feature maps at the bottleneck;
    bilinear upsampling, skip connections, 1x1 output conv, sigmoid.
    """

    def __init__(self, in_channels: int, out_channels: int, nz: int, height: int, width: int,
                 ngf: int = 32, noise_maps: int = 2) -> None:
        super().__init__()
        if height % 16 or width % 16:
            raise ValueError(f"U-Net input size must be divisible by 16, got {height}x{width}")
        c = [ngf, 2 * ngf, 4 * ngf, 8 * ngf, 8 * ngf]
        self.down = nn.ModuleList([double_conv(in_channels, c[0])] +
                                  [double_conv(a, b) for a, b in itertools.pairwise(c)])
        self.noise_maps, self.bottleneck = noise_maps, (height // 16, width // 16)
        self.noise = nn.Linear(nz, noise_maps * (height // 16) * (width // 16))
        ups = [(c[4] + noise_maps + c[3], c[2]), (c[2] + c[2], c[1]), (c[1] + c[1], c[0]), (c[0] + c[0], c[0])]
        self.up = nn.ModuleList([double_conv(a, b) for a, b in ups])
        self.out = nn.Conv2d(c[0], out_channels, 1)

    def forward(self, cond: Tensor, z: Tensor) -> Tensor:
        skips = []
        x = cond
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        noise = self.noise(z).view(z.shape[0], self.noise_maps, *self.bottleneck)
        x = torch.cat([skips.pop(), noise], dim=1)
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=True)
            x = block(torch.cat([skip, x], dim=1))
        return torch.sigmoid(self.out(x))


class ConditionalGenerator(nn.Module):
    """Wraps a predictor so that it returns the joint sample (input, prediction).

    cond: (B, Ci, H, W), z: (B, nz) -> (B, Ci + Co, H, W).
    """

    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor

    def forward(self, cond: Tensor, z: Tensor) -> Tensor:
        return torch.cat([cond, self.predictor(cond, z)], dim=1)
