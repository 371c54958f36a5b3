"""Generator loss terms of the baselines, besides the adversarial loss.

Each is a small object with one call shape, ``term(generator, inputs, fake,
rng) -> scalar``, listed in ``GANSetup.extra_losses``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from training.data import NoiseInput, Pool


class PairedL1:
    """pix2pix: weight * |predictor(input) - target|_1 on a fresh paired batch.

    pool: paired samples (N, Ci + Co, ...), input channels first.
    """

    def __init__(self, pool: Pool, input_channels: int, nz: int, weight: float = 100.0) -> None:
        self.pool, self.input_channels, self.noise, self.weight = pool, input_channels, NoiseInput(nz), weight

    def __call__(self, generator: nn.Module, inputs: tuple[Tensor, ...], fake: Tensor,
                 rng: torch.Generator) -> Tensor:
        batch = self.pool.sample(fake.shape[0], rng)
        (z,) = self.noise.sample(batch.shape[0], rng)
        prediction = generator.predictor(batch[:, : self.input_channels], z)
        return self.weight * (prediction - batch[:, self.input_channels:]).abs().mean()


class CycleConsistency:
    """CycleGAN: weight * (|backward(predictor(a)) - a|_1 + |predictor(backward(b)) - b|_1).

    inputs: (a, b, z); fake: (backward(b), predictor(a)) along channels.
    """

    def __init__(self, channels: int, weight: float = 10.0) -> None:
        self.channels, self.weight = channels, weight

    def __call__(self, generator: nn.Module, inputs: tuple[Tensor, ...], fake: Tensor,
                 rng: torch.Generator) -> Tensor:
        a, b, z = inputs
        fake_b_to_a, fake_a_to_b = fake[:, : self.channels], fake[:, self.channels:]
        rec_a = generator.backward(fake_a_to_b, z)
        rec_b = generator.predictor(fake_b_to_a, z)
        return self.weight * ((rec_a - a).abs().mean() + (rec_b - b).abs().mean())


class Identity:
    """CycleGAN: weight * (|predictor(b) - b|_1 + |backward(a) - a|_1)."""

    def __init__(self, weight: float = 5.0) -> None:
        self.weight = weight

    def __call__(self, generator: nn.Module, inputs: tuple[Tensor, ...], fake: Tensor,
                 rng: torch.Generator) -> Tensor:
        a, b, z = inputs
        return self.weight * ((generator.predictor(b, z) - b).abs().mean() + (generator.backward(a, z) - a).abs().mean())
