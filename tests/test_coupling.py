"""CoGAN and Soft-CoGAN (SCoGAN) on PairedMNIST: the coupled models and
each coupling term (zero when its coupling holds; gradients reach the right
generator), and that the evaluation classifier never serves training."""

import math

import pytest
import torch
from torch import nn

import PairedMNIST as paired_mnist
from common.digit_pairs import split_digits
from eval.mnist import CLASSIFIERS
from eval.mnist import train_classifier as eval_train_classifier
from models.cogan import CoupledGenerator, mlp_coupled_generator
from models.mnist_classifier import MNISTClassifier
from training import coupling
from training.coupling import (
    COUPLING_CLASSIFIER,
    FeatureRegulariser,
    LatentCycle,
    PerceptualAgreement,
    SemanticAgreement,
    coupling_terms,
)
from training.factorisation import Factorisation
from training.loop import LoopConfig, TrainState, train_step
from training.models_registry import model_flags
from training.options import UserError, build_parser

SIZES = {"upper": 784, "lower": 784}
PAIRS = Factorisation(list(SIZES.items()))


def _z(n=6, nz=5, seed=0):
    return torch.rand(n, nz, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _grads(module: nn.Module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def _backward(term, generator, z):
    generator.zero_grad(set_to_none=True)
    fake = generator(z)
    loss = term(generator, (z,), fake, None)
    loss.backward()
    return loss


def test_cogan_generator_shares_its_trunk_and_scogan_does_not():
    torch.manual_seed(0)
    cogan, scogan = mlp_coupled_generator(5, SIZES, shared=True), mlp_coupled_generator(5, SIZES, shared=False)
    assert cogan.trunks["upper"] is cogan.trunks["lower"]
    assert scogan.trunks["upper"] is not scogan.trunks["lower"]
    assert cogan(_z()).shape == scogan(_z()).shape == (6, 1568)
    # CoGAN is SCoGAN with the feature regulariser's coupling holding exactly
    assert FeatureRegulariser(1.0)(cogan, (_z(),), cogan(_z()), None).item() == 0.0
    loss = _backward(FeatureRegulariser(2.0), scogan, _z())
    assert loss.item() > 0
    assert _grads(scogan.trunks["upper"]) and _grads(scogan.trunks["lower"])
    assert not _grads(scogan.heads["upper"]) and not _grads(scogan.heads["lower"])


def test_latent_cycle_vanishes_for_invertible_branches_and_trains_each_branch_alone():
    nz = 4
    parts = Factorisation([("a", nz), ("b", nz)])
    exact = CoupledGenerator({"a": nn.Identity(), "b": nn.Identity()}, {"a": nn.Identity(), "b": nn.Tanh()},
                             encoders={"a": nn.Identity(), "b": _Atanh()})
    z = _z(nz=nz) * 0.9
    assert LatentCycle(parts, 1.0)(exact, (z,), exact(z), None).item() == pytest.approx(0.0, abs=1e-6)

    torch.manual_seed(0)
    gen = mlp_coupled_generator(nz, SIZES, shared=False, encoders=True)
    assert _backward(LatentCycle(PAIRS, 1.0), gen, _z(nz=nz)).item() > 0
    del gen.encoders["lower"]  # the upper digit's cycle alone
    _backward(LatentCycle(PAIRS, 1.0), gen, _z(nz=nz))
    assert _grads(gen.encoders["upper"]) and _grads(gen.trunks["upper"]) and _grads(gen.heads["upper"])
    assert not _grads(gen.trunks["lower"]) and not _grads(gen.heads["lower"])


class _Atanh(nn.Module):
    def forward(self, x):
        return torch.atanh(x)


def _classifier():
    torch.manual_seed(1)
    return MNISTClassifier()


@pytest.mark.parametrize("term_class", [SemanticAgreement, PerceptualAgreement])
def test_classifier_terms_vanish_for_equal_digits_and_train_both_generators(term_class):
    classifier = _classifier()
    term = term_class(classifier, split_digits, 1.0)
    digit = torch.rand(6, 784, generator=torch.Generator().manual_seed(2))
    assert term(None, (), torch.cat([digit, digit], 1), None).item() == pytest.approx(0.0, abs=1e-7)
    other = torch.rand(6, 784, generator=torch.Generator().manual_seed(3)) ** 4
    assert term(None, (), torch.cat([digit, other], 1), None).item() > 0

    torch.manual_seed(0)
    gen = mlp_coupled_generator(5, SIZES, shared=False)
    assert _backward(term, gen, _z()).item() > 0
    for part in SIZES:
        assert _grads(gen.heads[part]) and _grads(gen.trunks[part])
    assert not any(p.requires_grad for p in classifier.parameters()) and not classifier.training


def test_semantic_term_is_a_jensen_shannon_divergence():
    class Fixed(nn.Module):  # the upper digit's mean says "class 0", the lower's "class 1", with certainty
        def forward(self, x):
            return torch.where(x.mean((1, 2, 3))[:, None] > 0.5, 30.0, -30.0) * torch.tensor([1.0, -1.0])

    pair = torch.cat([torch.ones(3, 784), torch.zeros(3, 784)], 1)
    value = SemanticAgreement(Fixed(), split_digits, 1.0)(None, (), pair, None).item()
    assert value == pytest.approx(math.log(2), rel=1e-4)  # disjoint predictions: the maximum


def _opts(mnist_root, tmp_path, *flags):
    return build_parser("", paired_mnist.PairedMNIST().add_options).parse_args(
        ["--data_root", str(mnist_root), "--cache_dir", str(tmp_path / "cache"), "--no_progress", *flags])


def test_default_weights_are_the_searched_combination():
    from ImagePairs import ImagePairs

    weights = ("fr_weight", "latent_cycle_weight", "semantic_weight", "perceptual_weight")
    mnist = build_parser("", paired_mnist.PairedMNIST().add_options).parse_args([])
    assert [getattr(mnist, w) for w in weights] == [0.0, 0.0, 1.0, 0.0]  # the semantic term alone
    pairs = build_parser("", ImagePairs().add_options).parse_args([])
    assert [getattr(pairs, w, None) for w in weights] == [1.0, 1.0, None, None]  # no classifier: label-free terms


def test_weights_select_the_terms_and_negative_ones_are_refused(mnist_root, tmp_path):
    called = []

    def classifier():
        called.append(1)
        return _classifier()

    opts = _opts(mnist_root, tmp_path, "--model", "scogan", "--semantic_weight", "0", "--fr_weight", "1",
                 "--latent_cycle_weight", "2")
    assert [type(t) for t in coupling_terms(opts, PAIRS, classifier, split_digits)] == [FeatureRegulariser, LatentCycle]
    assert not called  # no classifier without a term that needs it
    opts = _opts(mnist_root, tmp_path, "--model", "scogan", "--perceptual_weight", "0.5")
    terms = coupling_terms(opts, PAIRS, classifier, split_digits)
    assert [type(t) for t in terms] == [SemanticAgreement, PerceptualAgreement] and called == [1]
    assert terms[0].classifier is terms[1].classifier
    with pytest.raises(UserError, match="--fr_weight must be >= 0"):
        coupling_terms(_opts(mnist_root, tmp_path, "--model", "scogan", "--fr_weight", "-1"), PAIRS)


def test_scogan_trains_with_its_own_classifier_never_the_evaluation_one(mnist_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    for file, _ in CLASSIFIERS.values():  # unreadable: loading one would fail
        (cache / file).write_bytes(b"not a checkpoint")

    def refuse(*args, **kwargs):
        raise AssertionError("the evaluation classifier was loaded for training")

    monkeypatch.setattr(paired_mnist, "load_or_train_classifier", refuse)
    trained_on = []

    def train_classifier(images, labels, seed, progress):
        trained_on.append((len(images), seed))
        return eval_train_classifier(images, labels, epochs=1, seed=seed, progress=False)

    monkeypatch.setattr(coupling, "train_classifier", train_classifier)
    opts = _opts(mnist_root, tmp_path, *model_flags("SCoGAN"), "--batchSize", "4", "--fr_weight", "1",
                 "--latent_cycle_weight", "1", "--perceptual_weight", "1")
    torch.manual_seed(0)
    setup, _ = paired_mnist.PairedMNIST().build(opts, torch.device("cpu"))
    after_training = torch.rand(3)
    assert (cache / COUPLING_CLASSIFIER).is_file() and trained_on == [(300, 1)]  # the second half, seed 1
    assert all((cache / file).read_bytes() == b"not a checkpoint" for file, _ in CLASSIFIERS.values())
    names = [type(t).__name__ for t in setup.extra_losses]
    assert names == ["FeatureRegulariser", "LatentCycle", "SemanticAgreement", "PerceptualAgreement"]
    # training the classifier leaves the global RNG as loading it from the cache does
    torch.manual_seed(0)
    paired_mnist.PairedMNIST().build(opts, torch.device("cpu"))
    assert torch.equal(torch.rand(3), after_training) and len(trained_on) == 1  # cached
    state = TrainState.create(setup, seed=0)
    stats = train_step(state, LoopConfig(batch_size=4, disc_iter=1))
    classifier_params = {id(p) for p in setup.extra_losses[2].classifier.parameters()}
    in_optimisers = {id(p) for opt in (state.opt_g, state.opt_d) for g in opt.param_groups for p in g["params"]}
    assert not classifier_params & in_optimisers
    assert {f"G/{n}" for n in names} <= set(stats)


def test_cogan_discriminators_share_their_last_layers(mnist_root, tmp_path):
    setup, _ = paired_mnist.PairedMNIST().build(_opts(mnist_root, tmp_path, *model_flags("CoGAN")),
                                                torch.device("cpu"))
    up, low = setup.discriminator.marginals["upper"], setup.discriminator.marginals["lower"]
    assert up.tail is low.tail and up.head is not low.head
    assert setup.extra_losses == [] and set(setup.pools) == {"upper", "lower"}


def test_scogan_evaluates_without_its_classifier(mnist_root, tmp_path):
    """--eval needs no loss terms: a run evaluates after its coupling classifier's
    cache is gone, without training it again; and it resumes bit-exactly."""
    from training.runner import main

    args = ["--data_root", str(mnist_root), "--out_path", str(tmp_path), "--cache_dir", str(tmp_path / "cache"),
            "--epochs", "1", "--epoch_iter", "4", "--batchSize", "4", "--eval_samples", "50", "--no_progress",
            *model_flags("SCoGAN"), "--experiment_name", "s"]
    assert main(paired_mnist.PairedMNIST(), [*args, "--max_steps", "2"]) == 0
    assert main(paired_mnist.PairedMNIST(), [*args, "--resume"]) == 0
    (tmp_path / "cache" / COUPLING_CLASSIFIER).unlink()
    assert main(paired_mnist.PairedMNIST(), [*args, "--eval"]) == 0
    assert not (tmp_path / "cache" / COUPLING_CLASSIFIER).exists()
    args[3] = str(tmp_path / "straight")
    assert main(paired_mnist.PairedMNIST(), args) == 0
    resumed, straight = (torch.load(root / "PairedMNIST" / "s" / "checkpoints" / "last.pt", weights_only=False)
                         for root in (tmp_path, tmp_path / "straight"))
    assert resumed["generator"].keys() == straight["generator"].keys()
    assert all(torch.equal(resumed["generator"][k], straight["generator"][k]) for k in straight["generator"])
