"""FactorGAN on a toy problem with a known dependency, in seconds on a CPU.

A is a point drawn uniformly from a square; B = f(A) + noise, f a fixed nonlinear map.
Observed: a few dozen complete pairs, 4000 A alone, 1500 B alone. Three models learn
the joint of (A, B): a GAN on the pairs only, FactorGAN-no-cp and FactorGAN.
Scores of 5000 generated pairs:
  marginals:  energy distance of generated A and B to fresh real ones, x1000 (0 = exact)
  dependency: 1 - E|B - f(A)|^2 / E|B' - f(A)|^2 with B' from another generated pair
              (1: B follows f(A) exactly; 0: B independent of A)

    python examples/two_part.py [--steps 1000] [--pairs 24] [--seed 0]
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # factorgan lives in the clone's root: no install needed
import factorgan as fg

MODELS = ("GAN (pairs only)", "FactorGAN-no-cp", "FactorGAN")


def f(a):  # the dependency: swap the coordinates, bend one with a sine
    return torch.stack([a[:, 1], 0.5 + 0.4 * torch.sin(2 * torch.pi * a[:, 0])], 1)


def make_pairs(n, g):  # (n, 4): A then B
    a = 0.1 + 0.8 * torch.rand(n, 2, generator=g)
    return torch.cat([a, f(a) + 0.02 * torch.randn(n, 2, generator=g)], 1)


def energy(x, y):  # energy distance between samples x (n, d) and y (m, d)
    return (2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()).item()


def scores(x, real):
    a, b = x[:, :2], x[:, 2:]
    miss, base = (b - f(a)).pow(2).sum(1).mean(), (b.roll(1, 0) - f(a)).pow(2).sum(1).mean()
    return 1000 * (energy(a, real[:, :2]) + energy(b, real[:, 2:])), (1 - miss / base).item()


def fit(model, steps=1000, n_pairs=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    parts = fg.Factorisation([("A", 2), ("B", 2)])  # a joint sample: A = columns 0-1, B = columns 2-3
    pairs, a_alone, b_alone = make_pairs(n_pairs, g), make_pairs(4000, g)[:, :2], make_pairs(1500, g)[:, 2:]
    def d(size):  # a small spectrally normalised MLP discriminator
        return fg.MLPDiscriminator(size, hidden=64)

    if model == "GAN (pairs only)":
        disc = fg.FactorisedDiscriminator.joint(parts, d(4))
    else:  # a marginal discriminator per part, D_P on real pairs (not for no-cp), D_Q on generated pairs
        disc = fg.FactorisedDiscriminator(parts, {"A": d(2), "B": d(2)},
                                          dep_p=d(4) if model == "FactorGAN" else None, dep_q=d(4))
    # D_P (and the GAN) learn from the pairs; each marginal discriminator from its part seen alone
    pools = fg.assign_pools(disc, fg.TensorPool(pairs), {"A": fg.TensorPool(a_alone), "B": fg.TensorPool(b_alone)})
    setup = fg.GANSetup(fg.MLPGenerator(8, 4, hidden=64), disc, fg.NoiseInput(8), pools)
    state = fg.TrainState.create(setup, lr=3e-4, seed=seed)
    fg.train(state, fg.LoopConfig(epochs=1, epoch_iter=steps, progress=False))  # the paper's schedule
    with torch.no_grad():
        fake = setup.generator(*setup.inputs.sample(5000, torch.Generator().manual_seed(1)))
    return scores(fake, make_pairs(5000, torch.Generator().manual_seed(2)))


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--pairs", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("steps", "pairs"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and far faster on a busy machine
    for name in MODELS:
        marginals, dependency = fit(name, args.steps, args.pairs, args.seed)
        print(f"{name:18s} marginals {marginals:6.1f}   dependency {dependency:+.2f}")


if __name__ == "__main__":
    main()
