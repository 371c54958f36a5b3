"""FactorGAN on a toy problem with a known dependency, in seconds on a CPU.

A is a point from a 5 x 5 grid of small Gaussian blobs; B = f(A) + noise with
f a fixed nonlinear map of the grid onto itself. Observed: 24 complete pairs,
4000 A alone and 1500 B alone. Three models learn the joint of (A, B):
a GAN on the pairs only, FactorGAN-no-cp (marginals only) and FactorGAN.
  coverage:   fraction of the 25 blobs of A that the generator produces
  dependency: 1 - E|B - f(A)|^2 / E|B' - f(A)|^2 on generated pairs, with B'
              from another sample: 1 = B follows f(A) exactly, 0 = independent
    python examples/two_part.py [--steps 3000] [--seed 0]
"""
import argparse

import torch

from factorgan import (
    Factorisation,
    FactorisedDiscriminator,
    GANSetup,
    LoopConfig,
    MLPDiscriminator,
    MLPGenerator,
    NoiseInput,
    TensorPool,
    TrainState,
    assign_pools,
    train,
)

CENTRES = torch.cartesian_prod(torch.linspace(0.1, 0.9, 5), torch.linspace(0.1, 0.9, 5))  # (25, 2)


def f(a):  # the dependency: swap the coordinates, bend one with a sine
    return torch.stack([a[:, 1], 0.5 + 0.4 * torch.sin(2 * torch.pi * a[:, 0])], 1)


def sample_a(n, g):
    return CENTRES[torch.randint(25, (n,), generator=g)] + 0.015 * torch.randn(n, 2, generator=g)


def make_pairs(n, g):
    a = sample_a(n, g)
    return torch.cat([a, f(a) + 0.015 * torch.randn(n, 2, generator=g)], 1)


def scores(x):
    a, b = x[:, :2], x[:, 2:]
    blob = torch.cdist(a, CENTRES).min(1)
    covered = torch.bincount(blob.indices[blob.values < 0.05], minlength=25) > 0.005 * len(x)
    miss, base = (b - f(a)).pow(2).sum(1).mean(), (b.roll(1, 0) - f(a)).pow(2).sum(1).mean()
    return covered.float().mean().item(), (1 - miss / base).item()


def fit(model, steps, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    parts = Factorisation([("A", 2), ("B", 2)])
    pairs, a_alone, b_alone = make_pairs(24, g), sample_a(4000, g), make_pairs(1500, g)[:, 2:]
    if model == "GAN (pairs only)":
        disc = FactorisedDiscriminator.joint(parts, MLPDiscriminator(4, hidden=64))
    else:
        disc = FactorisedDiscriminator(parts, {"A": MLPDiscriminator(2, hidden=64), "B": MLPDiscriminator(2, hidden=64)},
                                       dep_p=MLPDiscriminator(4, hidden=64) if model == "FactorGAN" else None,
                                       dep_q=MLPDiscriminator(4, hidden=64))
    pools = assign_pools(disc, TensorPool(pairs), {"A": TensorPool(a_alone), "B": TensorPool(b_alone)})
    setup = GANSetup(MLPGenerator(8, 4, hidden=64), disc, NoiseInput(8), pools)
    train(TrainState.create(setup, lr=1e-3, seed=seed), LoopConfig(epochs=1, epoch_iter=steps, progress=False))
    with torch.no_grad():
        return scores(setup.generator(*setup.inputs.sample(5000, torch.Generator().manual_seed(1))))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    for model in ("GAN (pairs only)", "FactorGAN-no-cp", "FactorGAN"):
        coverage, dependency = fit(model, args.steps, args.seed)
        print(f"{model:18s} coverage {coverage:.2f}  dependency {dependency:+.2f}")
