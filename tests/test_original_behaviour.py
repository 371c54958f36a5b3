"""The switches that restore the original code's training behaviours, and
--preset original, which sets all of them (docs/original_training.md, "Options")."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from torch import nn

from datasets.mnist_pairs import RedrawnPairs
from models.mlp import MLPDiscriminator, MLPGenerator
from models.spectral import OriginalSpectralNorm, SpectralNorm, maybe_spectral_norm
from PairedMNIST import PAIR_DIM, PairedMNIST, build_gan
from tests.test_paired_mnist_run import _args
from tests.tiny_runs import EXPERIMENT_CLASSES, tiny_setup, write_data
from training.discriminator import P_DEP, bce_real_fake
from training.ensemble_run import main as ensemble_main
from training.loop import LoopConfig, TrainState, discriminator_round, generator_step, make_optimizers, train_step
from training.options import build_parser, parse_options
from training.runner import loop_config
from training.runner import main as single_main

CPU = torch.device("cpu")


def _sn_layers(module: nn.Module) -> list[SpectralNorm]:
    return [m for m in module.modules() if isinstance(m, SpectralNorm)]


def _count_iterations(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Power-iteration steps per SpectralNorm module (by id) from now on, of either kind."""
    counts: Counter = Counter()
    for cls in (SpectralNorm, OriginalSpectralNorm):
        original = cls._power_iteration

        def counted(self, steps, _original=original):
            counts[id(self)] += steps
            return _original(self, steps)

        monkeypatch.setattr(cls, "_power_iteration", counted)
    return counts


def _normalised(x: torch.Tensor) -> torch.Tensor:
    return x / (x.norm() + 1e-12)


# -- --sn_impl original ---------------------------------------------------------------

def test_original_spectral_norm_starts_from_random_u_v_without_iterating():
    torch.manual_seed(3)
    layer = nn.Linear(20, 6)
    u, v = _normalised(torch.randn(6)), _normalised(torch.randn(20))  # drawn after the layer, u first
    torch.manual_seed(3)
    sn = maybe_spectral_norm(nn.Linear(20, 6), True, "original")
    assert isinstance(sn, OriginalSpectralNorm)
    assert torch.equal(sn.layer.weight, layer.weight)
    assert torch.allclose(sn.u, u, atol=1e-7) and torch.allclose(sn.v, v, atol=1e-7)
    ours = SpectralNorm(nn.Linear(20, 6))  # ours: 15 iterations at construction, u no longer a draw
    assert torch.allclose(ours.v, _normalised(torch.mv(ours.layer.weight.t(), ours.u)), atol=1e-6)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_original_spectral_norm_iterates_v_then_u_on_every_forward_in_any_mode(mode):
    torch.manual_seed(0)
    sn = OriginalSpectralNorm(nn.Linear(12, 5))
    sn.train(mode == "train")
    w, x = sn.layer.weight.detach(), torch.randn(4, 12)
    for _ in range(2):
        u0 = sn.u.clone()
        v1 = _normalised(torch.mv(w.t(), u0))
        u1 = _normalised(torch.mv(w, v1))
        with torch.no_grad():
            y = sn(x)
        assert torch.allclose(sn.v, v1, atol=1e-6) and torch.allclose(sn.u, u1, atol=1e-6)
        assert torch.allclose(y, x @ w.t() / torch.dot(u1, w @ v1) + sn.layer.bias, atol=1e-5)
    ours = SpectralNorm(nn.Linear(12, 5)).eval()  # ours iterates in training mode only
    u = ours.u.clone()
    ours(x)
    assert torch.equal(ours.u, u)


def test_original_spectral_norm_converges_to_the_largest_singular_value():
    torch.manual_seed(1)
    sn = OriginalSpectralNorm(nn.Linear(30, 10))
    for _ in range(200):
        sigma = sn.sigma()
    assert sigma.item() == pytest.approx(torch.linalg.matrix_norm(sn.layer.weight, 2).item(), rel=1e-4)


# -- --disc_forwards separate, --generator_step_disc live ----------------------------------

@pytest.fixture(scope="module")
def pix_root(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("pix"))


def _factorgan(mnist_root, pix_root, tmp_path, *flags: str) -> TrainState:
    setup = tiny_setup("PairedMNIST", "FactorGAN", CPU, mnist_root, pix_root, tmp_path, *flags)
    return TrainState.create(setup, seed=0)


def test_separate_forwards_run_two_power_iterations_per_sub_discriminator_and_round(
        mnist_root, pix_root, tmp_path, monkeypatch):
    for forwards, expected in (("joint", 1), ("separate", 2)):
        state = _factorgan(mnist_root, pix_root, tmp_path)
        counts = _count_iterations(monkeypatch)
        discriminator_round(state, LoopConfig(batch_size=4, disc_forwards=forwards))
        layers = _sn_layers(state.setup.discriminator)
        assert len(layers) == 12  # 3 layers in each of D_upper, D_lower, D_P, D_Q
        assert [counts[id(m)] for m in layers] == [expected] * 12, forwards


def test_separate_forwards_give_the_joint_loss_and_gradient_without_spectral_norm():
    torch.manual_seed(0)
    disc = MLPDiscriminator(6, hidden=8, spectral_norm=False)
    real, fake = torch.randn(5, 6), torch.randn(3, 6)
    grads = []
    for separate in (False, True):
        disc.zero_grad()
        sub = bce_real_fake(disc, real, fake, separate)
        sub.loss.backward()
        grads.append((sub.loss.detach(), sub.accuracy, [p.grad.clone() for p in disc.parameters()]))
    (l0, a0, g0), (l1, a1, g1) = grads
    assert torch.allclose(l0, l1, atol=1e-6) and torch.equal(a0, a1)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g0, g1, strict=True))


@pytest.mark.parametrize("impl", ["scaled", "original"])
def test_live_generator_step_advances_u_frozen_does_not(impl, mnist_root, pix_root, tmp_path):
    for mode in ("frozen", "live"):
        state = _factorgan(mnist_root, pix_root, tmp_path, "--sn_impl", impl)
        # (a 128 -> 1 layer's u is +-1 and its v exact after ours' 15 iterations: no visible step there)
        layers = [m for m in _sn_layers(state.setup.discriminator) if len(m.u) > 1]
        before = [m.u.clone() for m in layers]
        generator_step(state, LoopConfig(batch_size=4, generator_step_disc=mode))
        moved = [not torch.equal(m.u, u) for m, u in zip(layers, before, strict=True)]
        assert len(layers) == 8
        # ours iterates only in training mode; the original's wrapper on every forward
        assert all(moved) if mode == "live" or impl == "original" else not any(moved), (impl, mode)
        assert all(p.grad is None for p in state.setup.discriminator.parameters())  # no discriminator gradients
        assert state.setup.discriminator.training


# -- --l2_scope all, --adam_impl plain --------------------------------------------------

def test_l2_scope_all_decays_the_generator_and_d_p(mnist_root, pix_root, tmp_path):
    setup = _factorgan(mnist_root, pix_root, tmp_path).setup
    p_params = {id(p) for p in setup.discriminator.dep_p.parameters()}

    def decays(scope):
        opt_g, opt_d = make_optimizers(setup, 1e-4, 0.5, 0.01, l2_scope=scope)
        d_p = [g["weight_decay"] for g in opt_d.param_groups if {id(p) for p in g["params"]} <= p_params]
        others = [g["weight_decay"] for g in opt_d.param_groups if not {id(p) for p in g["params"]} & p_params]
        return [g["weight_decay"] for g in opt_g.param_groups], d_p, others

    assert decays("discriminators_except_p") == ([0], [0.0], [0.01])
    assert decays("all") == ([0.01], [0.01], [0.01])


def test_plain_adam_is_the_single_tensor_loop_and_equals_fused_to_rounding(mnist_root, pix_root, tmp_path):
    weights = []
    for impl in ("fused", "plain"):
        state = _factorgan(mnist_root, pix_root, tmp_path)
        state.opt_g, state.opt_d = make_optimizers(state.setup, 1e-3, 0.5, 0.0, adam_impl=impl)
        assert state.opt_d.defaults["fused"] is (impl == "fused")
        assert state.opt_d.defaults["foreach"] is (False if impl == "plain" else None)
        train_step(state, LoopConfig(batch_size=4))
        weights.append(torch.cat([p.detach().flatten() for p in state.setup.generator.parameters()]))
    assert torch.allclose(weights[0], weights[1], atol=1e-6)


# -- --init_order generator_first ---------------------------------------------------------

def _paired_mnist_opts(*flags: str):
    return build_parser("", PairedMNIST().add_options).parse_args(["--factorGAN", "1", *flags])


def test_generator_first_builds_the_generator_then_the_discriminators():
    torch.manual_seed(5)
    generator, upper = MLPGenerator(50, PAIR_DIM), MLPDiscriminator(PAIR_DIM // 2)
    torch.manual_seed(5)
    first = build_gan(_paired_mnist_opts("--init_order", "generator_first"), CPU, lambda source: None)
    torch.manual_seed(5)
    default = build_gan(_paired_mnist_opts(), CPU, lambda source: None)
    assert all(torch.equal(a, b) for a, b in zip(first.generator.parameters(), generator.parameters(), strict=True))
    assert torch.equal(first.discriminator.marginals["upper"].net[0].layer.weight, upper.net[0].layer.weight)
    assert not torch.equal(default.generator.net[0].weight, generator.net[0].weight)


# -- --preset original ---------------------------------------------------------------------

def _preset_opts(mnist_root, tmp_path, *flags: str):
    parser = build_parser("", PairedMNIST().add_options)
    argv = _args(mnist_root, tmp_path, "--factorGAN", "1", "--preset", "original", *flags)
    return parse_options(parser, argv, "PairedMNIST", PairedMNIST().default_name)


def test_preset_original_sets_each_of_the_originals_behaviours(mnist_root, tmp_path, monkeypatch):
    opts = _preset_opts(mnist_root, tmp_path)
    assert (opts.sn_impl, opts.disc_forwards, opts.generator_step_disc, opts.l2_scope, opts.adam_impl) == (
        "original", "separate", "live", "all", "plain")
    assert (opts.pairing, opts.fake_batches, opts.init_order, opts.eval_classifier, opts.lipschitz_q) == (
        "reference", "per_disc", "generator_first", ["reference"], 1)
    torch.manual_seed(opts.seed)
    setup, split = PairedMNIST().build(opts, CPU)
    layers = _sn_layers(setup.discriminator)
    assert len(layers) == 12 and all(isinstance(m, OriginalSpectralNorm) for m in layers)
    assert split["pairing"] == "reference" and all(isinstance(p, RedrawnPairs) for p in setup.pools.values())
    cfg = loop_config(opts)
    assert (cfg.fake_batches, cfg.disc_forwards, cfg.generator_step_disc) == ("per_disc", "separate", "live")
    state = TrainState.create(setup, opts.lr, opts.beta1, 0.01, l2_scope=opts.l2_scope, adam_impl=opts.adam_impl)
    assert {g["weight_decay"] for g in [*state.opt_g.param_groups, *state.opt_d.param_groups]} == {0.01}
    assert state.opt_d.defaults["fused"] is False
    # the original's count: per sub-discriminator 2 rounds x (real + fake forward) + 1 in the generator step
    counts = _count_iterations(monkeypatch)
    draws = Counter()
    sample = type(setup.inputs).sample
    monkeypatch.setattr(type(setup.inputs), "sample", lambda self, *a: draws.update(["fake"]) or sample(self, *a))
    train_step(state, cfg)
    assert [counts[id(m)] for m in layers] == [5] * 12
    assert draws["fake"] == 2 * 3 + 1  # per round a fake batch each for D_upper, D_lower, D_Q; one for G
    assert P_DEP in setup.discriminator.sub_discriminators()


def test_preset_original_builds_the_generator_first(mnist_root, tmp_path):
    opts = _preset_opts(mnist_root, tmp_path)
    torch.manual_seed(opts.seed)
    generator = MLPGenerator(opts.nz, PAIR_DIM)
    torch.manual_seed(opts.seed)
    setup = build_gan(opts, CPU, lambda source: None)
    assert all(torch.equal(a, b) for a, b in zip(setup.generator.parameters(), generator.parameters(), strict=True))


def test_given_options_override_the_preset(mnist_root, tmp_path):
    opts = _preset_opts(mnist_root, tmp_path, "--sn_impl", "scaled", "--pairing", "fixed")
    assert (opts.sn_impl, opts.pairing, opts.disc_forwards) == ("scaled", "fixed", "separate")
    plain = _preset_opts(mnist_root, tmp_path, "--preset", "none")
    assert (plain.sn_impl, plain.pairing, plain.disc_forwards, plain.fake_batches) == (
        "scaled", "fixed", "joint", "shared")


def test_the_preset_is_saved_resolved_and_resumed_with(mnist_root, tmp_path, capsys):
    args = _args(mnist_root, tmp_path, "--factorGAN", "1", "--experiment_name", "o", "--preset", "original",
                 "--disc_forwards", "joint")
    assert single_main(PairedMNIST(), [*args, "--max_steps", "1"]) == 0
    config = json.loads((tmp_path / "PairedMNIST" / "o" / "config.json").read_text())
    assert (config["preset"], config["sn_impl"], config["disc_forwards"], config["pairing"]) == (
        "original", "original", "joint", "reference")
    resume = _args(mnist_root, tmp_path, "--experiment_name", "o", "--resume")
    opts = parse_options(build_parser("", PairedMNIST().add_options), resume, "PairedMNIST",
                         PairedMNIST().default_name)
    assert (opts.sn_impl, opts.disc_forwards, opts.generator_step_disc) == ("original", "joint", "live")
    assert single_main(PairedMNIST(), [*resume, "--preset", "none"]) == 2
    assert "--preset" in capsys.readouterr().err
    assert single_main(PairedMNIST(), [*resume, "--max_steps", "2"]) == 0


@pytest.mark.parametrize("flags", [["--sn_impl", "original"], ["--disc_forwards", "separate"],
                                   ["--generator_step_disc", "live"], ["--l2_scope", "all"],
                                   ["--adam_impl", "plain"], ["--preset", "original"]])
def test_ensembles_refuse_the_originals_behaviours(flags, mnist_root, tmp_path, capsys):
    assert ensemble_main(PairedMNIST(), _args(mnist_root, tmp_path, *flags, "--seeds", "1", "2")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ensembles do not implement" in err[0], err
    assert flags[1] in err[0] or flags[0] == "--preset"


# -- the other experiments --------------------------------------------------------------------

@pytest.mark.parametrize("task", ["ImagePairs", "Image2Image", "AudioSeparation"])
def test_the_shared_switches_work_in_every_experiment(task, mnist_root, pix_root, tmp_path):
    setup = tiny_setup(task, "FactorGAN", CPU, mnist_root, pix_root, tmp_path, "--sn_impl", "original")
    layers = _sn_layers(setup.discriminator)
    assert layers and all(isinstance(m, OriginalSpectralNorm) for m in layers)
    state = TrainState.create(setup, l2=0.01, seed=0, l2_scope="all", adam_impl="plain")
    cfg = LoopConfig(batch_size=2, fake_batches="per_disc", disc_forwards="separate", generator_step_disc="live")
    assert all(torch.isfinite(v) for v in train_step(state, cfg).values())
    parser = build_parser("", EXPERIMENT_CLASSES[task]().add_options)
    opts = parser.parse_args(["--preset", "original"])
    assert not hasattr(opts, "init_order") and not hasattr(opts, "pairing")


def test_loop_config_refuses_unknown_switch_values():
    with pytest.raises(ValueError, match="disc_forwards"):
        LoopConfig(disc_forwards="both")
    with pytest.raises(ValueError, match="l2_scope"):
        make_optimizers(None, 1e-4, 0.5, 0.0, l2_scope="generator")


def test_original_normalisation_divides_by_norm_plus_eps():
    sn = OriginalSpectralNorm(nn.Linear(3, 2), eps=0.5)
    w = sn.layer.weight.detach()
    with torch.no_grad():
        sn.u.copy_(torch.tensor([0.6, 0.8]))
    v = torch.mv(w.t(), sn.u) / (torch.mv(w.t(), sn.u).norm() + 0.5)
    u = torch.mv(w, v) / (torch.mv(w, v).norm() + 0.5)
    sn._power_iteration(1)
    assert torch.allclose(sn.v, v) and torch.allclose(sn.u, u)
    assert sn.u.norm() < 0.99  # F.normalize would give a unit vector
