"""PairedMNIST (paper Sec. 4.1, Fig. 1): generate pairs of stacked MNIST digits
whose classes agree with probability lambda, from few paired and many unpaired
digits. --layout 2x2: four digits in a grid, two such columns whose upper
digits are linked with probability mu (issue 36; hierarchical and
autoregressive FactorGAN, paper App. A.3).

    python PairedMNIST.py --factorGAN 1 --num_joint_samples 100 --mnist_same_digit_prob 0.9
    python PairedMNIST.py --layout 2x2 --factorisation hierarchical --num_joint_samples 100 \
        --num_column_samples 1000 --mnist_same_digit_prob 0.9
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.utils import save_image

from common.digit_pairs import split_digits
from datasets.mnist_grids import draw_grid_indices, grid_image, make_grids, observed_split
from datasets.mnist_pairs import RedrawnPairs, draw_lower_indices, load_mnist, make_pairs
from eval.mnist import classifier_recipe, load_or_train_classifier, paired_mnist_scores, weights_digest
from eval.mnist_grids import grid_scores
from eval.sampling import generate
from models.cogan import coupled_mlp_discriminators, mlp_coupled_generator
from models.mlp import MLPDiscriminator, MLPGenerator
from training.coupling import add_coupling_options, coupled_gan, coupling_classifier
from training.data import NoiseInput, Pool, TensorPool
from training.discriminator import factorised_or_joint
from training.ensemble_run import add_ensemble_options, main
from training.factorisation import Factorisation
from training.loop import GANSetup
from training.mnist_grid import FACTORISATIONS, LAYOUTS, FactorisationChoice, build_grid_gan, resolve_factorisation
from training.models_registry import model_name
from training.options import UserError, cache_dir
from training.runner import Experiment, Run, append_csv

PAIR_DIM = 2 * 28 * 28
TEST_PAIR_SEED = 20190101  # fixed, so every run is scored against the same test pairs
FLOOR_GRID_SEED = 20190102  # 2x2: real training grids scored as generated ones, the metrics' floor


class PairedMNIST(Experiment):
    task = "PairedMNIST"
    description = __doc__

    def add_options(self, g: argparse._ArgumentGroup) -> None:
        g.add_argument("--num_joint_samples", type=int, default=50,
                       help="how many of the 60000 training pairs are available as pairs")
        g.add_argument("--mnist_same_digit_prob", type=float, default=0.4,
                       help="lambda: probability that the lower digit has the upper digit's class")
        g.add_argument("--eval_samples", type=int, default=10000,
                       help="generated pairs for FID (the paper: as many as test pairs)")
        g.add_argument("--eval_subset", type=int, default=10000,
                       help="with --eval_every N: generated pairs scored every N updates (FID and dependency "
                            "under each --eval_classifier, logged under val/)")
        g.add_argument("--pairing", choices=["fixed", "reference"], default="fixed",
                       help="fixed: every pair drawn once, the paired set is the first N pairs (the paper's "
                            "text); reference: as the original code ran, lower digits redrawn within the set "
                            "every pass, shuffled passes with a short last batch (the paper's numbers)")
        g.add_argument("--init_order", choices=["discriminators_first", "generator_first"],
                       default="discriminators_first",
                       help="GAN and FactorGAN: which networks draw their initial weights from the seed first "
                            "(ours: the discriminators, kept so that earlier runs' seeds reproduce; the original "
                            "code: the generator); CoGAN and SCoGAN always build the generator first")
        g.add_argument("--eval_classifier", nargs="+", type=classifier_recipe, default=["ours"],
                       help="evaluation classifier recipe(s): ours (lr 1e-3) or reference (the original "
                            "code's lr 1e-4, the paper's FID scale), each optionally @SEED, trained with that "
                            "seed (e.g. reference@1; default seed 0); the first fills fid/dependency and the CSVs")
        g.add_argument("--layout", choices=LAYOUTS, default="2x1",
                       help="2x1: the paper's pairs; 2x2: four digits, two pairs' columns side by side, stored "
                            "upper-left, lower-left, upper-right, lower-right")
        g.add_argument("--column_link_prob", type=float, default=0.9,
                       help="2x2, mu: probability that the upper-right digit has class (upper-left + 1) mod 10")
        g.add_argument("--num_column_samples", type=int, default=0,
                       help="2x2: training grids (after the complete ones) whose two columns are observed "
                            "alone; every other digit is observed alone")
        g.add_argument("--factorisation", choices=FACTORISATIONS, default=None, action=FactorisationChoice,
                       help="the discriminator, and so the model: joint (GAN, as --factorGAN 0), flat (FactorGAN, "
                            "as --factorGAN 1), hierarchical (2x2: the columns as groups, App. A.3 eq. 7) or "
                            "autoregressive (2x2: the digits in storage order, eq. 8); default: from --factorGAN")
        add_coupling_options(g, self.task, with_classifier=True)
        add_ensemble_options(g)

    def default_name(self, opts: argparse.Namespace) -> str:
        if opts.layout == "2x2":
            return (f"{model_name(opts, self.task)}_{resolve_factorisation(opts, self.task)}_{opts.num_joint_samples}"
                    f"joint_{opts.num_column_samples}col_lambda{opts.mnist_same_digit_prob}_mu{opts.column_link_prob}")
        return f"{model_name(opts, self.task)}_{opts.num_joint_samples}joint_lambda{opts.mnist_same_digit_prob}"

    def build(self, opts: argparse.Namespace, device: torch.device) -> tuple[GANSetup, dict[str, Any]]:
        if not 1 <= opts.num_joint_samples <= 60000:
            raise UserError(f"--num_joint_samples must be between 1 and 60000, got {opts.num_joint_samples}")
        if not 0.0 <= opts.mnist_same_digit_prob <= 1.0:
            raise UserError(f"--mnist_same_digit_prob must be in [0, 1], got {opts.mnist_same_digit_prob}")
        resolve_factorisation(opts, self.task)  # refuses a factorisation that does not fit
        if opts.layout == "2x1" and opts.num_column_samples:
            raise UserError("--num_column_samples needs the four-digit grids: add --layout 2x2")
        images, labels = load_mnist(opts.data_root, train=True)
        self.train, self.test = (images, labels), load_mnist(opts.data_root, train=False)  # both read before training
        if opts.layout == "2x2":
            return self.build_grids(opts, device)
        n, lam = opts.num_joint_samples, opts.mnist_same_digit_prob
        pool_for, lower = pair_pools(opts.pairing, images, labels, n, lam, opts.seed, device)
        split = {"seed": opts.seed, "same_digit_prob": lam, "num_joint_samples": n, "pairing": opts.pairing}
        if lower is not None:
            split.update(paired=f"pairs 0..{n - 1} (upper digit = MNIST train index)", lower_index=lower.tolist())
        else:
            split.update(paired=f"upper digits 0..{n - 1}, lower digits redrawn within them every pass")
        classifier = partial(coupling_classifier, cache_dir(opts), images, labels, device, not opts.no_progress)
        return build_gan(opts, device, pool_for, classifier), split

    def build_grids(self, opts: argparse.Namespace, device: torch.device) -> tuple[GANSetup, dict[str, Any]]:
        """--layout 2x2: grids drawn once from the seed; complete, columns alone and digits alone."""
        images, labels = self.train
        n, cols, mu = opts.num_joint_samples, opts.num_column_samples, opts.column_link_prob
        if not 0.0 <= mu <= 1.0:
            raise UserError(f"--column_link_prob must be in [0, 1], got {mu}")
        if opts.pairing != "fixed":
            raise UserError("--layout 2x2 draws its grids once (--pairing fixed)")
        if cols < 0 or n + cols > images.shape[0]:
            raise UserError(f"--num_joint_samples + --num_column_samples must be at most {images.shape[0]}, "
                            f"got {n} + {cols}")
        indices = draw_grid_indices(labels, opts.mnist_same_digit_prob, mu, torch.Generator().manual_seed(opts.seed))
        observed = observed_split(make_grids(images, indices).to(device), n, cols)
        split = {"seed": opts.seed, "layout": "2x2", "same_digit_prob": opts.mnist_same_digit_prob,
                 "column_link_prob": mu, "num_joint_samples": n, "num_column_samples": cols,
                 "complete": f"grids 0..{n - 1}", "columns_alone": f"grids {n}..{n + cols - 1}",
                 "digits_alone": f"grids {n + cols}..{images.shape[0] - 1}",
                 "grid_index": "row i: upper-left = MNIST train index i, then lower-left, upper-right, lower-right",
                 **{f"{p}_index": indices[:, k].tolist() for k, p in enumerate(("ll", "ur", "lr"), start=1)}}
        return build_grid_gan(opts, device, self.task, observed), split

    def grid_references(self, opts: argparse.Namespace, device: torch.device) -> None:
        """2x2: the test grids (drawn once) with their true classes, and the floor's training grids."""
        test_images, test_labels = self.test
        idx = draw_grid_indices(test_labels, opts.mnist_same_digit_prob, opts.column_link_prob,
                                torch.Generator().manual_seed(TEST_PAIR_SEED))
        self._real = make_grids(test_images, idx).to(device), test_labels[idx]
        images, labels = self.train
        floor = draw_grid_indices(labels, opts.mnist_same_digit_prob, opts.column_link_prob,
                                  torch.Generator().manual_seed(FLOOR_GRID_SEED))[:opts.eval_samples]
        self._floor = make_grids(images, floor).to(device)  # uint8; its scores per classifier: made once
        self._floor_scores: dict[str, dict[str, float]] = {}

    def scores(self, setup: GANSetup, opts: argparse.Namespace, samples: int) -> tuple[dict[str, dict], torch.Tensor]:
        """Each --eval_classifier's scores of `samples` generated pairs (drawn
        with their own RNG, seeded --seed + 1) against the test pairs; and the
        generated pairs (samples, 1568). 2x2: grids (samples, 3136), scored by
        eval.mnist_grids, with "floor": real training grids scored the same way."""
        device = next(setup.generator.parameters()).device
        if not hasattr(self, "_real"):  # test pairs (grids) and classifiers: made once per process
            if opts.layout == "2x2":
                self.grid_references(opts, device)
            else:
                test_images, test_labels = self.test  # read by build
                # test pairs drawn once, with the pairing's rule for the "other" class
                lower = draw_lower_indices(test_labels, opts.mnist_same_digit_prob,
                                           torch.Generator().manual_seed(TEST_PAIR_SEED),
                                           other_can_be_same=opts.pairing == "reference")
                self._real = make_pairs(test_images, lower).to(device), torch.stack([test_labels, test_labels[lower]], 1)
            self._classifiers = {recipe: load_or_train_classifier(cache_dir(opts), recipe, self.train, self.test,
                                                                  device, progress=not opts.no_progress)
                                 for recipe in opts.eval_classifier}
        rng = torch.Generator(device=device).manual_seed(opts.seed + 1)
        fake = generate(setup.generator, setup.inputs, samples, rng)
        if opts.layout == "2x2":
            for recipe, (classifier, _) in self._classifiers.items():
                if recipe not in self._floor_scores:
                    self._floor_scores[recipe] = grid_scores(classifier, *self._real, self._floor)
            return {recipe: {"classifier_test_accuracy": acc, "classifier_weights": weights_digest(classifier),
                             **grid_scores(classifier, *self._real, fake), "floor": self._floor_scores[recipe]}
                    for recipe, (classifier, acc) in self._classifiers.items()}, fake
        return {recipe: {"classifier_test_accuracy": acc, "classifier_weights": weights_digest(classifier),
                         **paired_mnist_scores(classifier, *self._real, fake)}
                for recipe, (classifier, acc) in self._classifiers.items()}, fake

    def periodic_scores(self, setup: GANSetup, opts: argparse.Namespace) -> dict[str, float]:
        """FID and dependency of --eval_subset generated pairs under each
        --eval_classifier (keys fid/RECIPE, dependency/RECIPE), for --eval_every's curves."""
        by_classifier, _ = self.scores(setup, opts, opts.eval_subset)
        keys = ("fid", "dependency_within", "dependency_between") if opts.layout == "2x2" else ("fid", "dependency")
        return {f"{key}/{recipe}": s[key] for recipe, s in by_classifier.items() for key in keys}

    def evaluate(self, setup: GANSetup, opts: argparse.Namespace, run: Run) -> dict[str, Any]:
        by_classifier, fake = self.scores(setup, opts, opts.eval_samples)
        recipe = opts.eval_classifier[0]
        scores = by_classifier[recipe]
        model = model_name(opts, self.task)
        if opts.layout == "2x2":
            save_digit_images(grid_image(fake[:64].cpu()), run.samples / "generated.png")
            return {"model": model, "layout": "2x2", "factorisation": resolve_factorisation(opts, self.task),
                    "num_joint_samples": opts.num_joint_samples, "num_column_samples": opts.num_column_samples,
                    "lambda": opts.mnist_same_digit_prob, "mu": opts.column_link_prob, "classifier": recipe,
                    **scores, "by_classifier": by_classifier}
        save_pairs_grid(fake[:64], run.samples / "generated.png")
        row = [opts.num_joint_samples, opts.mnist_same_digit_prob]
        tag = opts.experiment_name if opts.eval_model == "G" else f"{opts.experiment_name}@{opts.eval_model}"
        out = run.path.parent
        append_csv(out / "results_FID.csv", ["Paired samples", "Lambda", "FID", "Model", "Experiment"],
                   [[*row, round(scores["fid"], 4), model, tag]])
        append_csv(out / "results_Diff.csv", ["Paired samples", "Lambda", "Diff", "Model", "Experiment"],
                   [[*row, round(scores["dependency"], 4), model, tag]])
        return {"model": model, "num_joint_samples": opts.num_joint_samples, "pairing": opts.pairing,
                "lambda": opts.mnist_same_digit_prob, "classifier": recipe, **scores, "by_classifier": by_classifier}


def pair_pools(pairing: str, images: torch.Tensor, labels: torch.Tensor, n: int, same_digit_prob: float,
               seed: int, device: torch.device) -> tuple[Callable[[str], Pool], torch.Tensor | None]:
    """The real data of a --pairing: pool_for(source) ("paired": the first n
    pairs, "marginal": all), and for "fixed" the lower digits drawn (else None).

    images: (N, 28, 28) uint8, labels: (N,). "fixed": all N pairs drawn once
    from the seed; "reference": one RedrawnPairs per call (per
    sub-discriminator, as the original's one data loader each).
    """
    if pairing == "fixed":
        lower = draw_lower_indices(labels, same_digit_prob, torch.Generator().manual_seed(seed))
        pairs = make_pairs(images, lower).to(device)  # (N, 1568) uint8
        paired, marginal = TensorPool(pairs[:n]), TensorPool(pairs)
        return (lambda source: paired if source == "paired" else marginal), lower
    images, labels = images.to(device), labels.to(device)
    return (lambda source: RedrawnPairs(images[:n] if source == "paired" else images,
                                        labels[:n] if source == "paired" else labels, same_digit_prob)), None


def build_gan(opts: argparse.Namespace, device: torch.device, pool_for: Callable[[str], Pool],
              classifier: Callable[[], nn.Module] | None = None) -> GANSetup:
    """GAN: one joint discriminator on pairs. FactorGAN: upper and lower digit
    discriminators on all digits, plus D_P (unless --use_real_dep_disc 0) and D_Q.
    CoGAN and SCoGAN: a generator and a discriminator per digit (CoGAN: with
    shared layers; SCoGAN: with its coupling terms), all digits, no pairs.

    pool_for(source) gives each sub-discriminator its real data: source is
    "paired" (the paired set) or "marginal" (all training digits).
    classifier() builds SCoGAN's own classifier (its semantic and perceptual terms).
    opts.init_order: GAN and FactorGAN build the discriminators (marginals,
    D_P, D_Q) before the generator, or with "generator_first" after it, as the
    original code; opts.sn_impl: the discriminators' spectral norm."""
    factorisation = Factorisation([("upper", PAIR_DIM // 2), ("lower", PAIR_DIM // 2)])
    model = model_name(opts, PairedMNIST.task)
    sizes, sn = factorisation.sizes, opts.sn_impl
    extra = []
    if model in ("CoGAN", "SCoGAN"):
        generator, disc, extra = coupled_gan(
            model, factorisation, opts,
            generator=lambda shared: mlp_coupled_generator(opts.nz, sizes, shared=shared, encoders=not shared),
            coupled_discriminators=lambda: coupled_mlp_discriminators(sizes, sn_impl=sn),
            discriminator=lambda part: MLPDiscriminator(sizes[part], sn_impl=sn), classifier=classifier,
            views=split_digits)
    else:  # our default builds the discriminators first; the original code built the generator first
        first = MLPGenerator(opts.nz, PAIR_DIM) if opts.init_order == "generator_first" else None
        disc = factorised_or_joint(
            model, factorisation, marginal=lambda part: MLPDiscriminator(sizes[part], sn_impl=sn),
            joint=lambda spectral_norm: MLPDiscriminator(PAIR_DIM, spectral_norm=spectral_norm, sn_impl=sn),
            lipschitz=(bool(opts.lipschitz_p), bool(opts.lipschitz_q)))
        generator = first if first is not None else MLPGenerator(opts.nz, PAIR_DIM)
    pools = {name: pool_for(source) for name, source in disc.real_sources().items()}
    return GANSetup(generator.to(device), disc.to(device), NoiseInput(opts.nz), pools, extra)


def generator_setup(opts: argparse.Namespace, device: torch.device) -> GANSetup:
    """The models that opts build, without data (every pool one blank sample):
    for sampling a saved generator (analysis.sample)."""
    if opts.layout == "2x2":
        return build_grid_gan(opts, device, PairedMNIST.task, None)
    blank = TensorPool(torch.zeros(1, PAIR_DIM, device=device))
    return build_gan(opts, device, lambda source: blank)


def save_pairs_grid(pairs: torch.Tensor, path: Path) -> None:
    """pairs: (B, 1568) in [0, 1] -> a PNG grid of 56x28 stacked digit pairs."""
    upper, lower = split_digits(pairs.cpu())
    save_digit_images(torch.cat([upper, lower], dim=2), path)


def save_digit_images(images: torch.Tensor, path: Path) -> None:
    """images: (B, 1, H, W) in [0, 1] -> one PNG, 16 a row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, str(path), nrow=16, padding=2, pad_value=0.5)


if __name__ == "__main__":
    sys.exit(main(PairedMNIST()))
