"""Drawing samples from a trained generator for evaluation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from common.protocols import GeneratorInput


@torch.no_grad()
def generate(generator: nn.Module, inputs: GeneratorInput, n: int, rng: torch.Generator,
             batch_size: int = 500) -> Tensor:
    """n generated joint samples, (n, ...) on the generator's device."""
    return torch.cat([generator(*inputs.sample(min(batch_size, n - i), rng)) for i in range(0, n, batch_size)])


class FreshSamples:
    """sample(n) -> n new generated samples each call (for metrics that keep
    drawing from the generator, like the LS metric)."""

    def __init__(self, generator: nn.Module, inputs: GeneratorInput, rng: torch.Generator) -> None:
        self.generator, self.inputs, self.rng = generator, inputs, rng

    def __call__(self, n: int) -> Tensor:
        return generate(self.generator, self.inputs, n, self.rng)


class WithNoise:
    """cond (B, ...) -> model(cond, z) with fresh z ~ U(-1, 1)^nz, no gradients:
    a conditional generator used as a predictor."""

    def __init__(self, model: nn.Module, nz: int, rng: torch.Generator) -> None:
        self.model, self.nz, self.rng = model, nz, rng

    @torch.no_grad()
    def __call__(self, cond: Tensor) -> Tensor:
        z = torch.rand(cond.shape[0], self.nz, generator=self.rng, device=cond.device) * 2 - 1
        return self.model(cond, z)
