"""Coupled generators and discriminators: the unpaired joint-distribution
baselines CoGAN (Liu & Tuzel, 2016) and Soft-CoGAN (SCoGAN, Alminde &
Juul-Nyholm; ``../shared/seeds/002_*.txt``).

A coupled generator has one branch per part of the joint sample: a trunk
(z -> features: the high-level layers) and a head (features -> the part).
CoGAN's branches use one trunk (hard weight sharing), and its discriminators
share their last layers. SCoGAN's branches have trunks of their own, pulled
together by generator loss terms instead (``training/coupling.py``); its
discriminators are not shared. Neither sees a paired sample.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from models.conv import ConvDiscriminator, _levels
from models.mlp import MLPDiscriminator
from models.spectral import maybe_spectral_norm


class CoupledGenerator(nn.Module):
    """z: (B, nz) -> (B, ...): every part's branch output, concatenated along
    dim 1 (features or channels) in the order of ``heads``.

    trunks[p]: z -> features; heads[p]: features -> part p. Giving several
    parts the same trunk module shares it (CoGAN); it then runs once per
    batch. encoders[p] (optional; SCoGAN's latent cycle consistency): a
    generated part p -> (B, nz), trained with the generator.
    """

    def __init__(self, trunks: Mapping[str, nn.Module], heads: Mapping[str, nn.Module],
                 encoders: Mapping[str, nn.Module] | None = None) -> None:
        super().__init__()
        if list(trunks) != list(heads) or not set(encoders or {}) <= set(heads):
            raise ValueError(f"trunks {list(trunks)}, heads {list(heads)} and encoders {list(encoders or {})} "
                             "must name the same parts")
        self.trunks, self.heads = nn.ModuleDict(trunks), nn.ModuleDict(heads)
        self.encoders = nn.ModuleDict(encoders or {})

    def features(self, z: Tensor) -> dict[str, Tensor]:
        """Each part's trunk output for z (B, nz); a shared trunk runs once."""
        done: dict[int, Tensor] = {}
        for trunk in self.trunks.values():
            if id(trunk) not in done:
                done[id(trunk)] = trunk(z)
        return {name: done[id(trunk)] for name, trunk in self.trunks.items()}

    def forward(self, z: Tensor) -> Tensor:
        features = self.features(z)
        return torch.cat([head(features[name]) for name, head in self.heads.items()], dim=1)


def _trunks(make: Callable[[], nn.Module], parts: list[str], shared: bool) -> dict[str, nn.Module]:
    one = make() if shared else None
    return {p: one if one is not None else make() for p in parts}


def mlp_coupled_generator(nz: int, sizes: Mapping[str, int], hidden: int = 128, shared: bool = True,
                          encoders: bool = False) -> CoupledGenerator:
    """One MLPGenerator per part (nz -> hidden -> hidden -> size, ReLU,
    sigmoid output); the two hidden layers are the trunk, shared (CoGAN) or
    not (SCoGAN). encoders: an MLP (size -> hidden -> hidden -> nz) per part.
    Output (B, sum of sizes)."""
    def trunk() -> nn.Module:
        return nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())

    trunks = _trunks(trunk, list(sizes), shared)
    heads = {p: nn.Sequential(nn.Linear(hidden, size), nn.Sigmoid()) for p, size in sizes.items()}
    # built only when asked for: CoGAN's initialisation draws nothing for them
    enc = None if not encoders else {
        p: MLPDiscriminator(size, hidden, spectral_norm=False, outputs=nz) for p, size in sizes.items()}
    return CoupledGenerator(trunks, heads, encoders=enc)


def conv_coupled_generator(nz: int, channels: Mapping[str, int], image_size: int = 64, width: int = 64,
                           shared: bool = True, encoder_width: int | None = None) -> CoupledGenerator:
    """One DCGAN-style generator per part (ImagePairs' ConvGenerator layers);
    the trunk is every transposed conv but the last two (z -> (B, 2 * width,
    size / 4, size / 4)), shared (CoGAN) or not (SCoGAN). encoder_width: a
    conv encoder (ConvDiscriminator's layers, nz outputs) per part.
    Output (B, sum of channels, size, size)."""
    levels = _levels(image_size)
    widths = [width * 2 ** i for i in range(levels, -1, -1)]

    def trunk() -> nn.Module:
        layers: list[nn.Module] = [nn.Unflatten(1, (nz, 1, 1)), nn.ConvTranspose2d(nz, widths[0], 4, 1, 0),
                                   nn.ReLU(inplace=True)]
        for cin, cout in itertools.pairwise(widths[:-1]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.ReLU(inplace=True)]
        return nn.Sequential(*layers)

    def head(out_channels: int) -> nn.Module:
        return nn.Sequential(nn.ConvTranspose2d(widths[-2], widths[-1], 4, 2, 1), nn.ReLU(inplace=True),
                             nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1), nn.Sigmoid())

    trunks = _trunks(trunk, list(channels), shared)
    heads = {p: head(c) for p, c in channels.items()}
    enc = None if encoder_width is None else {
        p: ConvDiscriminator(c, image_size, encoder_width, spectral_norm=False, outputs=nz) for p, c in channels.items()}
    return CoupledGenerator(trunks, heads, encoders=enc)


class _Coupled(nn.Module):
    """One of the coupled discriminators: its own first layer, the shared rest."""

    def __init__(self, head: nn.Module, tail: nn.Module) -> None:
        super().__init__()
        self.head, self.tail = head, tail

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.head(x)).squeeze(1)


def coupled_conv_discriminators(channels: Mapping[str, int], image_size: int = 64, width: int = 32,
                                spectral_norm: bool = True, sn_impl: str = "scaled") -> dict[str, nn.Module]:
    """CoGAN: a conv discriminator (as ImagePairs') per part, whose layers
    after the first are one shared set of parameters. Each: (B, C, H, W) -> (B,).
    sn_impl: the spectral norm's implementation (models.spectral.SN_IMPLS)."""
    levels = _levels(image_size)
    widths = [width * 2 ** i for i in range(levels + 1)]
    layers: list[nn.Module] = []
    for cin, cout in itertools.pairwise(widths):
        layers += [maybe_spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1), spectral_norm, sn_impl), nn.LeakyReLU()]
    tail = nn.Sequential(*layers, nn.Flatten(),
                         maybe_spectral_norm(nn.Linear(widths[-1] * 16, 1, bias=False), spectral_norm, sn_impl))

    def head(cin: int) -> nn.Module:
        return nn.Sequential(maybe_spectral_norm(nn.Conv2d(cin, widths[0], 4, 2, 1), spectral_norm, sn_impl), nn.LeakyReLU())

    return {p: _Coupled(head(c), tail) for p, c in channels.items()}


def coupled_mlp_discriminators(sizes: Mapping[str, int], hidden: int = 128,
                               spectral_norm: bool = True, sn_impl: str = "scaled") -> dict[str, nn.Module]:
    """CoGAN: an MLPDiscriminator per part (size -> hidden -> hidden -> 1,
    LeakyReLU 0.01) whose last two layers are shared. Each: (B, size) -> (B,).
    sn_impl: the spectral norm's implementation (models.spectral.SN_IMPLS)."""
    tail = nn.Sequential(maybe_spectral_norm(nn.Linear(hidden, hidden), spectral_norm, sn_impl), nn.LeakyReLU(0.01),
                         maybe_spectral_norm(nn.Linear(hidden, 1), spectral_norm, sn_impl))

    def head(size: int) -> nn.Module:
        return nn.Sequential(maybe_spectral_norm(nn.Linear(size, hidden), spectral_norm, sn_impl), nn.LeakyReLU(0.01))

    return {p: _Coupled(head(size), tail) for p, size in sizes.items()}
