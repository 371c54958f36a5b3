"""FactorGAN on a toy problem with a known dependency, in seconds on a CPU.

A is a point drawn uniformly from a square; B = f(A) + noise, with f a fixed
nonlinear map. Observed: 24 complete pairs, 4000 A alone and 1500 B alone.
Three models learn the joint of (A, B): a GAN on the pairs only,
FactorGAN-no-cp (marginals only) and FactorGAN. Scores of 5000 generated pairs:
  marginals:  energy distance of generated A and B to fresh real A and B, x1000 (0 = exact)
  dependency: 1 - E|B - f(A)|^2 / E|B' - f(A)|^2, B' from another generated pair:
              1 = B follows f(A) exactly, 0 = B independent of A
    python examples/two_part.py [--steps 2000] [--seed 0]
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


DIM_A = 6


def f(a):  # the dependency: B from A's first two coordinates, one bent by a sine
    return torch.stack([a[:, 1], 0.5 + 0.4 * torch.sin(2 * torch.pi * a[:, 0])], 1)


def make_pairs(n, g):
    a = 0.1 + 0.8 * torch.rand(n, DIM_A, generator=g)
    return torch.cat([a, f(a) + 0.02 * torch.randn(n, 2, generator=g)], 1)


def energy(x, y):  # energy distance between two samples (n, d), (m, d)
    return (2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()).item()


def scores(x, real):
    a, b = x[:, :DIM_A], x[:, DIM_A:]
    miss, base = (b - f(a)).pow(2).sum(1).mean(), (b.roll(1, 0) - f(a)).pow(2).sum(1).mean()
    return 1000 * (energy(a, real[:, :DIM_A]) + energy(b, real[:, DIM_A:])), (1 - miss / base).item()


def fit(model, steps, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    parts = Factorisation([("A", 2), ("B", 2)])
    pairs, a_alone, b_alone = make_pairs(24, g), make_pairs(4000, g)[:, :2], make_pairs(1500, g)[:, 2:]
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
        fake = setup.generator(*setup.inputs.sample(5000, torch.Generator().manual_seed(1)))
    return scores(fake, make_pairs(5000, torch.Generator().manual_seed(2)))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and much faster on a busy machine
    for model in ("GAN (pairs only)", "FactorGAN-no-cp", "FactorGAN"):
        marginals, dependency = fit(model, args.steps, args.seed)
        print(f"{model:18s} marginals {marginals:6.1f}   dependency {dependency:+.2f}")
