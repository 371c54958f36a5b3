"""Ensembles (training/ensemble.py): member e trains exactly as its single run.

In float64 the only difference, float summation order, stays at rounding
level, so members and single runs must agree to ~1e-8 over hundreds of updates.
"""

from __future__ import annotations

import pytest
import torch

from models.mlp import MLPDiscriminator, MLPGenerator
from models.stacked import load_members, stack_modules, store_members
from PairedMNIST import PairedMNIST
from training.data import NoiseInput, TensorPool
from training.discriminator import factorised_or_joint
from training.ensemble import Ensemble, ensemble_train_step
from training.factorisation import Factorisation
from training.loop import GANSetup, LoopConfig, TrainState, train_step
from training.options import build_parser

MODELS = {"GAN": [], "FactorGAN": ["--factorGAN", "1"], "FactorGAN-no-cp": ["--factorGAN", "1", "--use_real_dep_disc", "0"]}


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


class DoublePool:
    """A pool whose batches are float64 (the models are), same draws; keeps the pool's state."""

    def __init__(self, pool) -> None:
        self.pool = pool

    def __len__(self) -> int:
        return len(self.pool)

    def sample(self, batch_size, generator):
        return self.pool.sample(batch_size, generator).to(torch.get_default_dtype())


class PassPool:
    """A small stateful pool like RedrawnPairs: shuffled passes, a short last batch."""

    def __init__(self, data) -> None:
        self.data, self.order, self.position = data, None, len(data)

    def __len__(self) -> int:
        return len(self.data)

    def sample(self, batch_size, generator):
        if self.position >= len(self):
            self.order, self.position = torch.randperm(len(self), generator=generator), 0
        idx = self.order[self.position:self.position + batch_size]
        self.position += len(idx)
        return self.data[idx]


def tiny_state(model: str, seed: int) -> TrainState:
    """A two-part GAN of 2 x 6 values with small MLPs, built from the seed."""
    torch.manual_seed(seed)
    f = Factorisation([("a", 6), ("b", 6)])
    data = torch.rand(40, 12, generator=torch.Generator().manual_seed(100 + seed))  # each member its own data
    disc = factorised_or_joint(model, f, marginal=lambda part: MLPDiscriminator(6, hidden=16),
                               joint=lambda sn: MLPDiscriminator(12, hidden=16, spectral_norm=sn), lipschitz=(True, True))
    paired, marginal = PassPool(data[:10]), TensorPool(data)  # 10 pairs, batch 8: passes of 8 + 2
    pools = {name: paired if source == "paired" else marginal for name, source in disc.real_sources().items()}
    setup = GANSetup(MLPGenerator(4, 12, hidden=16), disc, NoiseInput(4), pools)
    return TrainState.create(setup, lr=1e-3, seed=seed)


def paired_mnist_state(model: str, pairing: str, seed: int, mnist_root, double: bool = True) -> TrainState:
    """Member `seed` as PairedMNIST.py --seed builds it (runner: manual_seed, build, TrainState.create)."""
    exp = PairedMNIST()
    opts = build_parser("", exp.add_options).parse_args(
        [*MODELS[model], "--data_root", str(mnist_root), "--pairing", pairing, "--num_joint_samples", "20",
         "--seed", str(seed)])
    torch.manual_seed(opts.seed)
    setup, _ = exp.build(opts, torch.device("cpu"))
    if double:
        setup.pools = {name: DoublePool(pool) for name, pool in setup.pools.items()}
    return TrainState.create(setup, opts.lr, opts.beta1, opts.L2, opts.seed)


def assert_same(single: TrainState, member: TrainState, tol: float) -> None:
    """Weights, buffers and optimiser states within tol; RNG and step identical."""
    assert single.step == member.step
    assert torch.equal(single.rng.get_state(), member.rng.get_state())
    for key in ("generator", "discriminator", "opt_g", "opt_d"):
        a, b = single.state_dict()[key], member.state_dict()[key]
        if key.startswith("opt"):
            assert a["param_groups"] == b["param_groups"]
            a, b = ({f"{i}.{k}": v for i, s in d["state"].items() for k, v in s.items()} for d in (a, b))
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].shape == b[name].shape, (key, name)
            assert torch.allclose(a[name], b[name], rtol=0, atol=tol), (key, name, (a[name] - b[name]).abs().max())


def run_both(make, seeds, steps, cfg):
    """Single runs and an ensemble of the same members; returns both states and each's G losses (steps, E)."""
    singles = [make(s) for s in seeds]
    single_losses = torch.tensor([[train_step(s, cfg)["G/loss"].item() for s in singles] for _ in range(steps)])
    ensemble = Ensemble([make(s) for s in seeds])
    losses = torch.stack([ensemble_train_step(ensemble, cfg)["G/loss"] for _ in range(steps)])
    ensemble.store()
    return singles, ensemble.members, single_losses, losses


@pytest.mark.parametrize("model", list(MODELS))
def test_members_equal_single_runs_over_hundreds_of_updates(model, float64):
    cfg = LoopConfig(batch_size=8, progress=False)
    singles, members, single_losses, losses = run_both(lambda s: tiny_state(model, s), [1337, 1, 2, 3], 200, cfg)
    assert torch.allclose(single_losses.double(), losses.double(), rtol=0, atol=1e-8)
    assert single_losses.std(1).min() > 1e-3  # the members are different runs
    for single, member in zip(singles, members, strict=True):
        assert_same(single, member, 1e-8)


@pytest.mark.parametrize("pairing", ["fixed", "reference"])
@pytest.mark.parametrize("model", list(MODELS))
def test_paired_mnist_members_equal_single_runs(model, pairing, mnist_root, float64):
    cfg = LoopConfig(batch_size=8, progress=False)  # 20 pairs in batches of 8: short reference batches too
    singles, members, single_losses, losses = run_both(
        lambda s: paired_mnist_state(model, pairing, s, mnist_root), [1337, 1, 2, 3], 8, cfg)
    assert torch.allclose(single_losses.double(), losses.double(), rtol=0, atol=1e-8)
    for single, member in zip(singles, members, strict=True):
        assert_same(single, member, 1e-8)
        for name, pool in single.setup.pools.items():
            if hasattr(pool.pool, "state_dict"):  # RedrawnPairs: the same pass, position and lower digits
                for key, value in pool.pool.state_dict().items():
                    assert torch.equal(torch.as_tensor(value), torch.as_tensor(member.setup.pools[name].pool.state_dict()[key]))


def test_float32_members_stay_close_for_the_first_updates(mnist_root):
    cfg = LoopConfig(batch_size=25, progress=False)
    singles, members, single_losses, losses = run_both(
        lambda s: paired_mnist_state("FactorGAN", "fixed", s, mnist_root, double=False), [1337, 1, 2, 3], 3, cfg)
    assert torch.allclose(single_losses, losses, rtol=0, atol=1e-5)
    for single, member in zip(singles, members, strict=True):
        assert_same(single, member, 1e-5)


def test_member_order_and_company_do_not_matter(float64):
    """Member seed 2 alone, first of two, or second of three: the same run.
    Fails if members shared an RNG or if stacking mixed members."""
    cfg = LoopConfig(batch_size=8, progress=False)
    ensembles = {}
    for seeds in ((2,), (2, 5), (7, 5, 2)):
        ensembles[seeds] = Ensemble([tiny_state("FactorGAN", s) for s in seeds])
        for _ in range(40):
            ensemble_train_step(ensembles[seeds], cfg)
        ensembles[seeds].store()
    alone = ensembles[(2,)].members[0]
    assert_same(alone, ensembles[(2, 5)].members[0], 1e-10)
    assert_same(alone, ensembles[(7, 5, 2)].members[2], 1e-10)
    assert_same(ensembles[(2, 5)].members[1], ensembles[(7, 5, 2)].members[1], 1e-10)
    with pytest.raises(AssertionError):  # sanity: seeds 2 and 5 are different runs
        assert_same(alone, ensembles[(2, 5)].members[1], 1e-3)


def test_stacked_networks_keep_members_apart(float64):
    members = [MLPDiscriminator(10, hidden=8) for _ in range(3)]
    stacked = stack_modules(members)
    x = torch.randn(3, 5, 10, requires_grad=True)
    out = stacked(x)  # training mode: one power iteration each, as the members do
    expected = torch.stack([m(x[e].detach()) for e, m in enumerate(members)])
    assert torch.allclose(out, expected, atol=1e-12)
    # member 1's loss reaches member 1's weights and input only
    out[1].sum().backward()
    grads = [p.grad for p in stacked.parameters()]
    assert all(g[[0, 2]].abs().max() == 0 and g[1].abs().max() > 0 for g in grads)
    assert x.grad[[0, 2]].abs().max() == 0
    # and equals member 1's own gradient (u and v as constants, as SpectralNorm's autograd)
    members[1].eval()  # no second power iteration: the u, v that the stacked forward used
    members[1](x[1].detach()).sum().backward()
    for (name, p), g in zip(members[1].named_parameters(), grads, strict=True):
        assert torch.allclose(p.grad, g[1], atol=1e-12), name


def test_store_and_load_round_trip(float64):
    members = [MLPGenerator(3, 6, hidden=4) for _ in range(2)]
    stacked = stack_modules(members)
    with torch.no_grad():
        for p in stacked.parameters():
            p.add_(1.0)
    store_members(stacked, members)
    assert torch.equal(members[1].net[0].weight, stacked.net[0].weight[1])
    fresh = stack_modules([MLPGenerator(3, 6, hidden=4) for _ in range(2)])
    load_members(fresh, members)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), stacked.state_dict().values(), strict=True))


def test_unstackable_layers_are_refused():
    with pytest.raises(TypeError, match="Conv2d"):
        stack_modules([torch.nn.Conv2d(1, 1, 3), torch.nn.Conv2d(1, 1, 3)])
    with pytest.raises(ValueError, match="same step"):
        a, b = tiny_state("GAN", 1), tiny_state("GAN", 2)
        b.step = 3
        Ensemble([a, b])


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_paired_first_layer_equals_the_shuffled_batch(spectral_norm, float64):
    """The dependency discriminators' shortcut (training/stacked_dependency.py): the same logits and
    weight gradients as the stacked network on cat([x, shuffle(x)])."""
    from training.stacked_dependency import draw_perms, paired_logits

    f = Factorisation([("a", 5), ("b", 4), ("c", 3)])
    members = [MLPDiscriminator(12, hidden=8, spectral_norm=spectral_norm) for _ in range(3)]
    plain, short = stack_modules(members), stack_modules(members)
    x = torch.randn(3, 6, 12)
    perms = draw_perms(f, 6, [torch.Generator().manual_seed(s) for s in range(3)], x.device)
    rows = torch.arange(3).unsqueeze(1)
    shuffled = torch.cat([x[:, :, :5], x[:, :, 5:9][rows, perms[0]], x[:, :, 9:][rows, perms[1]]], dim=2)
    expected = plain(torch.cat([x, shuffled], dim=1))
    got = paired_logits(short, f, x, perms)
    assert torch.allclose(got, expected, atol=1e-12)
    weights = torch.randn_like(expected)
    (expected * weights).sum().backward()
    (got * weights).sum().backward()
    for (name, a), b in zip(plain.named_parameters(), short.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-12), name


def test_optimiser_groups_and_weight_decay_are_mirrored(float64):
    """--marginal_lr_factor and --L2: three Adam groups with their own settings, stacked as they are."""
    def make(seed):
        setup = tiny_state("FactorGAN", seed).setup
        return TrainState.create(setup, lr=1e-3, l2=0.01, seed=seed, marginal_lr_factor=0.5)

    singles, members, single_losses, losses = run_both(make, [1, 2], 30, LoopConfig(batch_size=8, progress=False))
    assert [g["lr"] for g in members[0].opt_d.param_groups] == [5e-4, 1e-3, 1e-3]
    assert torch.allclose(single_losses.double(), losses.double(), rtol=0, atol=1e-8)
    for single, member in zip(singles, members, strict=True):
        assert_same(single, member, 1e-8)
