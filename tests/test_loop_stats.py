"""The loop: its collapse detector G/batch_sd and its stabilisers (marginal learning rate, instance noise)."""

import pytest
import torch
from torch import nn

from models.mlp import MLPDiscriminator
from training.data import NoiseInput, TensorPool
from training.discriminator import FactorisedDiscriminator
from training.factorisation import Factorisation
from training.loop import GANSetup, LoopConfig, TrainState, generator_step


class Constant(nn.Module):
    """A collapsed generator: the same sample whatever z is."""

    def __init__(self) -> None:
        super().__init__()
        self.sample = nn.Parameter(torch.rand(4))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.sample.expand(z.shape[0], -1)


def _state(generator: nn.Module) -> TrainState:
    torch.manual_seed(0)
    parts = Factorisation([("A", 2), ("B", 2)])
    disc = FactorisedDiscriminator.joint(parts, MLPDiscriminator(4, hidden=8))
    setup = GANSetup(generator, disc, NoiseInput(3), {"joint": TensorPool(torch.rand(10, 4))})
    return TrainState.create(setup, seed=0)


def test_batch_sd_is_zero_for_a_collapsed_generator_only():
    cfg = LoopConfig(batch_size=6)
    collapsed = generator_step(_state(Constant()), cfg)["G/batch_sd"]
    varied = generator_step(_state(nn.Sequential(nn.Linear(3, 4), nn.Sigmoid())), cfg)["G/batch_sd"]
    assert collapsed.item() == 0.0 and varied.item() > 1e-3


def test_marginal_lr_factor_slows_the_marginal_discriminators_only():
    from training.loop import make_optimizers

    torch.manual_seed(0)
    parts = Factorisation([("A", 2), ("B", 2)])
    disc = FactorisedDiscriminator(parts, {p: MLPDiscriminator(2, hidden=8) for p in ("A", "B")},
                                   dep_p=MLPDiscriminator(4, hidden=8), dep_q=MLPDiscriminator(4, hidden=8))
    setup = GANSetup(nn.Linear(3, 4), disc, NoiseInput(3), {})
    marginal = {id(p) for p in disc.marginals.parameters()}
    dep_p = {id(p) for p in disc.dep_p.parameters()}
    for factor in (1.0, 0.25):
        _, opt_d = make_optimizers(setup, 1e-3, 0.5, 0.1, marginal_lr_factor=factor)
        seen = [(id(p), g["lr"], g["weight_decay"]) for g in opt_d.param_groups for p in g["params"]]
        assert sorted(key for key, _, _ in seen) == sorted(id(p) for p in disc.parameters())  # each once
        for key, lr, decay in seen:
            assert lr == (1e-3 * factor if key in marginal else 1e-3)
            assert decay == (0.0 if key in dep_p else 0.1)  # no L2 on D_P


class Recorder(nn.Module):
    """A discriminator that remembers what it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.scale * x.sum(1)


def test_instance_noise_reaches_every_discriminator_input():
    from training.loop import discriminator_round

    def inputs_seen(noise: float) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(0)
        recorder = Recorder()
        disc = FactorisedDiscriminator.joint(Factorisation([("A", 2), ("B", 2)]), recorder)
        zeros = nn.Linear(3, 4)
        nn.init.zeros_(zeros.weight), nn.init.zeros_(zeros.bias)
        state = TrainState.create(GANSetup(zeros, disc, NoiseInput(3), {"joint": TensorPool(torch.zeros(10, 4))}))
        cfg = LoopConfig(batch_size=64, instance_noise=noise)
        discriminator_round(state, cfg)
        generator_step(state, cfg)
        return recorder.seen[0], recorder.seen[1]  # real and fake of the round, then the generator's fake

    for noise in (0.0, 0.5):
        round_inputs, generator_inputs = inputs_seen(noise)
        for x in (round_inputs, generator_inputs):  # real and generated samples are all zeros
            assert x.std().item() == pytest.approx(noise, rel=0.15) if noise else x.abs().max().item() == 0.0
