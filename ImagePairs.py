"""ImagePairs (paper Sec. 4.2, Fig. 2): generate (input, output) image pairs of
a pix2pix data set (Edges2Shoes, Cityscapes) from few pairs and many unpaired
images; scored by the LS metric.

    python ImagePairs.py --dataset edges2shoes --factorGAN 1 --num_joint_samples 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
from functools import partial
from typing import Any

import torch

from datasets.pix2pix import CHANNELS, load_split
from eval import image_fid
from eval.ls import ls_distance
from eval.sampling import FreshSamples, generate
from eval.visualise import save_pairs
from models.cogan import conv_coupled_generator, coupled_conv_discriminators
from models.conv import ConvDiscriminator, ConvGenerator
from training.coupling import add_coupling_options, coupled_gan
from training.data import NoiseInput, TensorPool
from training.discriminator import factorised_or_joint
from training.factorisation import Factorisation
from training.loop import GANSetup, assign_pools
from training.models_registry import model_name
from training.options import cache_dir, check_image_size, int01, paired_count, protocol_name
from training.own_images import (
    add_folder_options,
    check_folder_options,
    load_own_images,
    load_own_val,
    val_set_name,
)
from training.runner import Experiment, Run, append_csv, main

# The two documented settings; results name the one that produced them.
PROTOCOLS = {
    "paper": {"loadSize": 64, "generator_channels": 64, "disc_channels": 32, "batchSize": 25, "steps": 200000},
    "cpu": {"loadSize": 64, "generator_channels": 32, "disc_channels": 16, "batchSize": 25, "steps": 3000},
}


class ImagePairs(Experiment):
    task = "ImagePairs"
    description = __doc__

    def add_options(self, g: argparse._ArgumentGroup) -> None:
        g.add_argument("--dataset", choices=list(CHANNELS), default="edges2shoes", help="pix2pix data set")
        g.add_argument("--num_joint_samples", type=int, default=1000,
                       help="how many training images (first in sorted order) are available as pairs")
        g.add_argument("--loadSize", type=int, default=64, help="images are resized to loadSize x loadSize")
        g.add_argument("--generator_channels", type=int, default=64, help="generator width")
        g.add_argument("--disc_channels", type=int, default=32, help="first-layer channels of each discriminator")
        g.add_argument("--big_disc", type=int01, default=0,
                       help="1: double the GAN discriminator's channels ('GAN big', as large as "
                            "FactorGAN's discriminators together)")
        g.add_argument("--ls_runs", type=int, default=10, help="LS metric: discriminator training runs")
        g.add_argument("--ls_channels", type=int, default=16, help="LS metric: discriminator width")
        g.add_argument("--ls_epochs", type=int, default=40, help="LS metric: training epochs per run")
        g.add_argument("--num_generated", type=int, default=1000, help="generated pairs saved as images")
        add_coupling_options(g, self.task, with_classifier=False)
        image_fid.add_fid_options(g)
        add_folder_options(g, "A", "B")

    def default_name(self, opts: argparse.Namespace) -> str:
        data = opts.dataset if opts.pairs is None else "own"
        return f"{data}_{model_name(opts, self.task).replace(' ', '_')}_{opts.num_joint_samples}joint"

    def build(self, opts: argparse.Namespace, device: torch.device) -> tuple[GANSetup, dict[str, Any]]:
        check_image_size(opts.loadSize, smallest=8)
        check_folder_options(opts)
        if opts.pairs is not None:  # the user's own folders: parts seen alone get pools of their own
            own = load_own_images(opts, device)
            self.val = load_own_val(opts)  # read before training: a bad folder fails now
            setup = build_gan(opts, device, channels_of(opts), paired=TensorPool(own.pairs[:own.n_paired]),
                              marginal=own.part_pools(("A", "B"), opts.channels[0]))
            return setup, own.split(opts)
        images, names = load_split(opts.data_root, opts.dataset, "train", opts.loadSize,
                                   cache_dir(opts), progress=not opts.no_progress)
        self.val, _ = load_split(opts.data_root, opts.dataset, "val", opts.loadSize, cache_dir(opts),
                                 progress=not opts.no_progress)
        n_paired = paired_count(opts, "num_joint_samples", len(images), "training images")
        images = images.to(device)
        setup = build_gan(opts, device, CHANNELS[opts.dataset], paired=TensorPool(images[:n_paired]),
                          marginal=TensorPool(images))
        split = {"dataset": opts.dataset, "num_joint_samples": n_paired, "train_images": len(names),
                 "paired_files": names[:n_paired]}
        return setup, split

    def evaluate(self, setup: GANSetup, opts: argparse.Namespace, run: Run) -> dict[str, Any]:
        device = next(setup.generator.parameters()).device
        a_channels, b_channels = channels_of(opts)
        rng = torch.Generator(device=device).manual_seed(opts.seed + 1)
        model, dataset = model_name(opts, self.task), dataset_of(opts)
        save_pairs(generate(setup.generator, setup.inputs, opts.num_generated, rng), a_channels, run.samples)
        val = self.val  # the validation pairs, read by build
        if val is None:
            print("note: no --val_pairs: samples saved, LS and FID/KID skipped", flush=True)
            return {"model": model, "dataset": dataset, "num_joint_samples": opts.num_joint_samples}
        perm = torch.randperm(len(val), generator=torch.Generator().manual_seed(opts.seed))
        n_train = int(0.8 * len(val))
        test_train, test_test = val[perm[:n_train]].to(device), val[perm[n_train:]].to(device)

        def make_disc() -> ConvDiscriminator:
            return ConvDiscriminator(a_channels + b_channels, opts.loadSize, opts.ls_channels,
                                     spectral_norm=False).to(device)

        fakes = FreshSamples(setup.generator, setup.inputs, rng)
        scores = [ls_distance(make_disc, test_train, test_test, fakes, rng, epochs=opts.ls_epochs,
                              batch_size=opts.batchSize) for _ in range(opts.ls_runs)]
        protocol = protocol_name(PROTOCOLS, opts)
        append_csv(run.path.parent / "LS.csv",
                   ["LS", "Model", "Samples", "Dataset", "Samples_Validation", "Samples_Test", "Protocol",
                    "Experiment"],
                   [[round(s, 5), model, opts.num_joint_samples, dataset, len(test_train),
                     len(test_test), protocol, opts.experiment_name] for s in scores])
        return {"model": model, "dataset": dataset, "num_joint_samples": opts.num_joint_samples,
                "protocol": protocol, "ls_runs": scores, "ls_mean": statistics.mean(scores),
                "ls_sd": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                "val_split": [len(test_train), len(test_test)],
                **fid_kid(setup, opts, val.to(device), run, [model, opts.num_joint_samples, dataset, protocol])}


def fid_kid(setup: GANSetup, opts: argparse.Namespace, val: torch.Tensor, run: Run, columns: list[Any]) -> dict[str, Any]:
    """FID/KID of image A, image B and the pair, generated vs the validation
    pairs val (N, C, H, W), as many of each; rows in FID_KID.csv. Empty when skipped."""
    rng = torch.Generator(device=val.device).manual_seed(opts.seed + 2)  # apart from the LS metric's draws
    fake = partial(generate, setup.generator, setup.inputs, len(val), rng)
    layout = image_fid.PairLayout(channels_of(opts)[0], ("A", "B"), ("A", "B", "joint"))
    cache = cache_dir(opts) / f"fid_{val_set_name(opts, opts.dataset)}_val_{opts.loadSize}px"
    scores = image_fid.scores_or_none(opts, val, fake, layout, cache)
    if scores is None:
        return {}
    append_csv(run.path.parent / "FID_KID.csv",
               [*image_fid.CSV_COLUMNS, "Model", "Samples", "Dataset", "Protocol", "Real", "Generated", "Experiment"],
               image_fid.csv_rows(scores, *columns, len(val), len(val), opts.experiment_name))
    return {"fid_kid": scores, "fid_kid_images": len(val)}


def channels_of(opts: argparse.Namespace) -> tuple[int, int]:
    """(channels of A, channels of B): the data set's, or --channels with --pairs."""
    return CHANNELS[opts.dataset] if opts.pairs is None else (opts.channels[0], opts.channels[1])


def dataset_of(opts: argparse.Namespace) -> str:
    return opts.dataset if opts.pairs is None else "own folders"


def build_gan(opts: argparse.Namespace, device: torch.device, channels: tuple[int, int],
              paired: TensorPool, marginal: TensorPool | dict[str, TensorPool]) -> GANSetup:
    """GAN: one joint conv discriminator on pairs. FactorGAN: one per image
    (all training images, or pools of each image seen alone) plus D_P (unless
    --use_real_dep_disc 0) and D_Q.
    CoGAN and SCoGAN: a generator and a discriminator per image, no pairs
    (CoGAN: with shared layers; SCoGAN: with its label-free coupling terms)."""
    a, b = channels
    size, width, sn = opts.loadSize, opts.disc_channels, opts.sn_impl
    model = model_name(opts, ImagePairs.task)
    factorisation = Factorisation([("A", a), ("B", b)], dim=1)
    extra = []
    if model in ("CoGAN", "SCoGAN"):
        sizes = factorisation.sizes
        generator, disc, extra = coupled_gan(
            model, factorisation, opts,
            generator=lambda shared: conv_coupled_generator(opts.nz, sizes, size, opts.generator_channels, shared,
                                                            encoder_width=None if shared else width),
            coupled_discriminators=lambda: coupled_conv_discriminators(sizes, size, width, sn_impl=sn),
            discriminator=lambda part: ConvDiscriminator(sizes[part], size, width, sn_impl=sn))
    else:
        generator = ConvGenerator(opts.nz, a + b, size, opts.generator_channels)
        joint_width = width * (2 if model == "GAN big" else 1)
        disc = factorised_or_joint(
            model, factorisation,
            marginal=lambda part: ConvDiscriminator(factorisation.sizes[part], size, width, sn_impl=sn),
            joint=lambda spectral_norm: ConvDiscriminator(a + b, size, joint_width, spectral_norm, sn_impl=sn),
            lipschitz=(bool(opts.lipschitz_p), bool(opts.lipschitz_q)))
    return GANSetup(generator.to(device), disc.to(device), NoiseInput(opts.nz), assign_pools(disc, paired, marginal),
                    extra)


if __name__ == "__main__":
    sys.exit(main(ImagePairs()))
