"""Soft-CoGAN's couplings (SCoGAN; ``../shared/seeds/002_*.txt``): generator
loss terms that tie two generators together without shared weights and
without a single paired sample.

Each term is a ``GeneratorLossTerm`` (``term(generator, inputs, fake, rng)
-> scalar``) on a ``models.cogan.CoupledGenerator`` with two parts, and is 0
when its coupling holds exactly:

1. FeatureRegulariser: the two branches' trunk features for the same z agree
   (the layers CoGAN would share).
2. SemanticAgreement: a fixed classifier predicts the same class
   distribution for both generated parts.
3. LatentCycle: each part's encoder recovers z from the generated part, so
   both parts carry all of z.
4. PerceptualAgreement: the fixed classifier's features of both parts agree.

The classifier of 2 and 4 is trained for this purpose only (PairedMNIST:
``coupling_classifier``), never the evaluation classifier: the training
signal and the scores do not come from one network (its architecture,
recipe and data are alike, so its features are not independent of theirs).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from common.errors import UserError
from common.io import save_atomic
from eval.mnist import accuracy, stored_classifier, train_classifier
from models.mnist_classifier import MNISTClassifier
from training.discriminator import FactorisedDiscriminator, SeparateDiscriminators
from training.factorisation import Factorisation
from training.loop import GeneratorLossTerm
from training.models_registry import option_values

# apart from the evaluation classifiers (eval.mnist.CLASSIFIERS: all 60000 training digits, seed 0)
COUPLING_CLASSIFIER = "mnist_coupling_classifier_second_half_seed1.pt"


def _two(values: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    if len(values) != 2:
        raise ValueError(f"SCoGAN's couplings tie exactly two parts, got {list(values)}")
    first, second = values.values()
    return first, second


class FeatureRegulariser:
    """weight * mean squared difference of the two branches' trunk features
    (generator.features(z): part -> (B, ...)) for the same z."""

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def __call__(self, generator: nn.Module, inputs: tuple[Tensor, ...], fake: Tensor,
                 rng: torch.Generator) -> Tensor:
        a, b = _two(generator.features(*inputs))
        return self.weight * (a.float() - b.float()).pow(2).mean()


class LatentCycle:
    """weight * sum over parts of mean |encoder_p(generated part p) - z|_1.

    inputs: (z,) with z (B, nz); generator.encoders: part -> module mapping
    that part (B, ...) to (B, nz); fake: (B, ...) joint samples split by
    factorisation."""

    def __init__(self, factorisation: Factorisation, weight: float) -> None:
        self.factorisation, self.weight = factorisation, weight

    def __call__(self, generator: nn.Module, inputs: tuple[Tensor, ...], fake: Tensor,
                 rng: torch.Generator) -> Tensor:
        (z,) = inputs
        errors = [(encoder(self.factorisation.take(fake, part)) - z).abs().mean()
                  for part, encoder in generator.encoders.items()]
        return self.weight * torch.stack(errors).sum()


class _ClassifierTerm:
    """A term on a fixed classifier's view of the two generated parts.

    classifier: (B, ...) classifier inputs -> (B, classes) logits, with
    .features(x) -> (B, F); frozen here (no gradients, eval mode) and in no
    optimiser. views: fake (B, ...) -> the two parts as classifier inputs."""

    def __init__(self, classifier: nn.Module, views: Callable[[Tensor], tuple[Tensor, Tensor]],
                 weight: float) -> None:
        self.classifier = classifier.eval().requires_grad_(False)
        self.views, self.weight = views, weight


class SemanticAgreement(_ClassifierTerm):
    """weight * Jensen-Shannon divergence (nats, at most log 2) between the
    classifier's class distributions for the two parts of each sample.

    It asks for the same class in both parts: right where the real pairs
    mostly agree (PairedMNIST lambda 0.9), wrong where they mostly differ
    (lambda 0.1); like CoGAN's sharing, it cannot learn "different"."""

    def __call__(self, generator: nn.Module, inputs: tuple[Tensor, ...], fake: Tensor,
                 rng: torch.Generator) -> Tensor:
        a, b = self.views(fake)
        log_p, log_q = (torch.log_softmax(self.classifier(x).float(), dim=1) for x in (a, b))
        log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
        js = 0.5 * (log_p.exp() * (log_p - log_m) + log_q.exp() * (log_q - log_m)).sum(1)
        return self.weight * js.mean()


class PerceptualAgreement(_ClassifierTerm):
    """weight * mean squared difference of the classifier's features
    (classifier.features) of the two parts."""

    def __call__(self, generator: nn.Module, inputs: tuple[Tensor, ...], fake: Tensor,
                 rng: torch.Generator) -> Tensor:
        a, b = self.views(fake)
        return self.weight * (self.classifier.features(a).float() - self.classifier.features(b).float()).pow(2).mean()


WEIGHTS = {"fr_weight": "feature regulariser: trunk features of the two generators agree",
           "latent_cycle_weight": "latent cycle consistency: an encoder per part recovers z",
           "semantic_weight": "semantic loss: a classifier of its own gives both parts the same class",
           "perceptual_weight": "perceptual loss: that classifier's features of both parts agree"}
LABEL_FREE = ("fr_weight", "latent_cycle_weight")
# Default weights. PairedMNIST: the semantic term alone, the best combination of a search at 10k updates
# (lowest mean dependency metric over lambda 0.9 and 0.1; README, Results). Without a classifier
# (ImagePairs): the two label-free terms, each at 1.
DEFAULTS = {True: {"semantic_weight": 1.0}, False: {"fr_weight": 1.0, "latent_cycle_weight": 1.0}}


def add_coupling_options(g: argparse._ArgumentGroup, task: str, with_classifier: bool) -> None:
    """--model (cogan, scogan) beside GAN/FactorGAN, and SCoGAN's term weights
    (0 = off); the classifier terms only where a labelled data set trains a
    classifier (PairedMNIST)."""
    g.add_argument("--model", choices=option_values("model", task), default=None,
                   help="train an unpaired baseline instead of GAN/FactorGAN: cogan (generators share their first "
                        "layers, discriminators their last) or scogan (two generators, two discriminators, tied "
                        "by the loss terms below)")
    for name, what in WEIGHTS.items():
        if with_classifier or name in LABEL_FREE:
            g.add_argument(f"--{name}", type=float, default=DEFAULTS[with_classifier].get(name, 0.0),
                           help=f"SCoGAN: weight of the {what} (0 = off)")


def coupled_gan(model: str, factorisation: Factorisation, opts: argparse.Namespace,
                generator: Callable[[bool], nn.Module], coupled_discriminators: Callable[[], dict[str, nn.Module]],
                discriminator: Callable[[str], nn.Module], classifier: Callable[[], nn.Module] | None = None,
                views: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
                ) -> tuple[nn.Module, FactorisedDiscriminator, list[GeneratorLossTerm]]:
    """CoGAN or SCoGAN: (generator, discriminators, generator loss terms).

    generator(shared) builds the coupled generator (shared: CoGAN's one
    trunk; else SCoGAN's own trunks and encoders), built first;
    coupled_discriminators() CoGAN's discriminators with shared layers;
    discriminator(part) one of SCoGAN's. SCoGAN's terms come from opts
    (none with --eval, which needs no loss, nor its classifier)."""
    cogan = model == "CoGAN"
    gen = generator(cogan)
    discs = coupled_discriminators() if cogan else {part: discriminator(part) for part in factorisation.names}
    terms = [] if cogan or opts.eval else coupling_terms(opts, factorisation, classifier, views)
    return gen, SeparateDiscriminators(factorisation, discs), terms


def coupling_terms(opts: argparse.Namespace, factorisation: Factorisation,
                   classifier: Callable[[], nn.Module] | None = None,
                   views: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None) -> list[GeneratorLossTerm]:
    """The SCoGAN terms whose weight in opts is > 0. classifier() builds the
    classifier of the semantic and perceptual terms (called once, if needed)."""
    weights = {name: getattr(opts, name, 0.0) for name in WEIGHTS}
    for name, w in weights.items():
        if not w >= 0.0:
            raise UserError(f"--{name} must be >= 0 (0 switches the term off), got {w}")
    terms: list[GeneratorLossTerm] = []
    if weights["fr_weight"]:
        terms.append(FeatureRegulariser(weights["fr_weight"]))
    if weights["latent_cycle_weight"]:
        terms.append(LatentCycle(factorisation, weights["latent_cycle_weight"]))
    if weights["semantic_weight"] or weights["perceptual_weight"]:
        if classifier is None or views is None:
            raise ValueError("the semantic and perceptual terms need a classifier and its views")
        model = classifier()
        if weights["semantic_weight"]:
            terms.append(SemanticAgreement(model, views, weights["semantic_weight"]))
        if weights["perceptual_weight"]:
            terms.append(PerceptualAgreement(model, views, weights["perceptual_weight"]))
    return terms


def coupling_classifier(cache_dir: Path, images: Tensor, labels: Tensor, device: torch.device,
                        progress: bool = True) -> MNISTClassifier:
    """The MNIST classifier of SCoGAN's semantic and perceptual terms, trained
    once and cached: the evaluation recipe (eval.mnist.train_classifier) on
    the second half of the training digits with seed 1, so that it is not the
    evaluation classifier (all training digits, seed 0). Its accuracy is
    measured on the first half; the MNIST test set is not touched.

    images: (N, 28, 28) uint8 training digits, labels: (N,)."""
    cache = cache_dir / COUPLING_CLASSIFIER
    half = len(images) // 2
    with torch.random.fork_rng(devices=[]):  # leaves the global RNG (model initialisation) as it was
        stored = stored_classifier(cache, "heldout_accuracy")  # None: not cached yet, or damaged
        if stored is not None:
            model, heldout = stored
        else:
            print(f"training SCoGAN's own MNIST classifier once (cached at {cache})", flush=True)
            model = train_classifier(images[half:], labels[half:], seed=1, progress=progress)
            heldout = accuracy(model, images[:half], labels[:half])
            save_atomic({"model": model.state_dict(), "heldout_accuracy": heldout}, cache)
    print(f"SCoGAN classifier: {heldout:.4f} accuracy on the training digits it did not see")
    return model.to(device).eval()
