"""Image2Image (paper Sec. 4.3, Fig. 4): Cityscapes photo -> colour segmentation
map with a U-Net, from few paired and many unpaired photos and maps; scored by
pixel accuracy and MSE on the validation set.

    python Image2Image.py --factorGAN 1 --num_joint_samples 25
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchvision.utils import save_image

from datasets.pix2pix import load_split
from eval import image_fid
from eval.cityscapes import mse, pixel_accuracy, prior_map
from eval.sampling import WithNoise
from models.conv import ConvDiscriminator
from models.cyclegan import CycleGenerator
from models.unet import ConditionalGenerator, UNet
from training.data import ConditionalInput, TensorPool, UnpairedInput, as_float
from training.discriminator import FactorisedDiscriminator, SeparateDiscriminators
from training.factorisation import Factorisation
from training.loop import GANSetup, assign_pools
from training.losses import CycleConsistency, Identity, PairedL1
from training.options import cache_dir, check_image_size, model_name, paired_count, protocol_name
from training.runner import Experiment, Run, append_csv, main

PHOTO, MAP = 3, 3
BASELINES = {"cyclegan": "CycleGAN", "pix2pix": "pix2pix"}
PROTOCOLS = {
    "paper": {"loadSize": 128, "generator_channels": 32, "batchSize": 25, "steps": 200000},
    "cpu": {"loadSize": 64, "generator_channels": 16, "batchSize": 16, "steps": 2000},
}


class Image2Image(Experiment):
    task = "Image2Image"
    description = __doc__

    def add_options(self, g: argparse._ArgumentGroup) -> None:
        g.add_argument("--num_joint_samples", type=int, default=1000,
                       help="how many training pairs (first in sorted order) are available as pairs")
        g.add_argument("--loadSize", type=int, default=128, help="images are resized to loadSize x loadSize")
        g.add_argument("--generator_channels", type=int, default=32, help="U-Net width (ngf)")
        g.add_argument("--disc_channels", type=int, default=32, help="first-layer channels of each discriminator")
        g.add_argument("--num_examples", type=int, default=100, help="validation examples in the sample grid")
        g.add_argument("--model", choices=list(BASELINES), default=None,
                       help="train a baseline instead of GAN/FactorGAN: CycleGAN (no pairs) or pix2pix (pairs only)")
        g.add_argument("--cycle_weight", type=float, default=10.0, help="CycleGAN: cycle-consistency L1 weight")
        g.add_argument("--identity_weight", type=float, default=0.5,
                       help="CycleGAN: identity L1 weight, relative to --cycle_weight")
        g.add_argument("--l1_weight", type=float, default=100.0, help="pix2pix: L1 weight")
        image_fid.add_fid_options(g)

    def model(self, opts: argparse.Namespace) -> str:
        return BASELINES[opts.model] if opts.model else model_name(opts)

    def default_name(self, opts: argparse.Namespace) -> str:
        return f"{self.model(opts)}_{opts.num_joint_samples}joint"

    def build(self, opts: argparse.Namespace, device: torch.device) -> tuple[GANSetup, dict[str, Any]]:
        check_image_size(opts.loadSize, smallest=16)  # U-Net: four halvings
        images, names = load_split(opts.data_root, "cityscapes", "train", opts.loadSize, cache_dir(opts),
                                   progress=not opts.no_progress)
        n_paired = paired_count(opts, "num_joint_samples", len(images), "training pairs")
        images = images.to(device)
        self.train_maps = images[:, PHOTO:]  # for the photo-blind baselines
        setup = build_gan(opts, device, images, n_paired)
        split = {"num_joint_samples": n_paired, "train_images": len(names), "paired_files": names[:n_paired]}
        return setup, split

    def evaluate(self, setup: GANSetup, opts: argparse.Namespace, run: Run) -> dict[str, Any]:
        device = next(setup.generator.parameters()).device
        val, _ = load_split(opts.data_root, "cityscapes", "val", opts.loadSize, cache_dir(opts),
                            progress=not opts.no_progress)
        rng = torch.Generator(device=device).manual_seed(opts.seed + 1)
        predictor = WithNoise(setup.generator.predictor, opts.nz, rng)  # photos -> maps
        model = self.model(opts)
        scores = {model: score(predictor, val, device)}
        prior, mean_map = prior_map(self.train_maps), as_float(self.train_maps).mean(0)
        scores["prior (photo-blind)"] = score(ConstantMap(prior), val, device)
        scores["mean map (photo-blind)"] = score(ConstantMap(mean_map), val, device)
        save_examples(predictor, val[: opts.num_examples].to(device), run.samples / "val_examples.png")
        protocol = protocol_name(PROTOCOLS, opts)
        rows = [[opts.num_joint_samples, round(v, 5), model, metric, protocol, opts.experiment_name]
                for model, s in scores.items() for metric, v in (("MSE", s["mse"]), ("Accuracy", s["accuracy"]))]
        append_csv(run.path.parent / "Image2Image_Cityscapes.csv",
                   ["Paired samples", "Perf", "Model", "Metric", "Protocol", "Experiment"], rows, delimiter=",")
        ours = scores.pop(model)
        return {"model": model, "num_joint_samples": opts.num_joint_samples,
                "protocol": protocol, **ours, "baselines": scores,
                **fid_kid(setup, opts, val.to(device), run, [model, opts.num_joint_samples, protocol])}


def build_gan(opts: argparse.Namespace, device: torch.device, images: Tensor, n_paired: int) -> GANSetup:
    """FactorGAN: a marginal discriminator on all training maps, D_P on paired
    (photo, map), D_Q on (photo, prediction); the generator's photos come from
    all training images. GAN: one joint discriminator and photos, both paired
    only; pix2pix adds an L1 loss to the true maps. CycleGAN: photo and map
    discriminators and translators both ways, on all images, no pairs."""
    size, width = opts.loadSize, opts.disc_channels
    factorisation = Factorisation([("photo", PHOTO), ("map", MAP)], dim=1)
    paired, everything = TensorPool(images[:n_paired]), TensorPool(images)

    def unet() -> UNet:
        return UNet(PHOTO, MAP, opts.nz, size, size, opts.generator_channels)

    if opts.model == "cyclegan":
        disc = SeparateDiscriminators(factorisation, {"photo": ConvDiscriminator(PHOTO, size, width),
                                                      "map": ConvDiscriminator(MAP, size, width)})
        return GANSetup(CycleGenerator(unet(), unet()).to(device), disc.to(device),
                        UnpairedInput(TensorPool(images[:, :PHOTO]), TensorPool(images[:, PHOTO:]), opts.nz),
                        assign_pools(disc, paired, everything),
                        [CycleConsistency(PHOTO, opts.cycle_weight), Identity(opts.identity_weight * opts.cycle_weight)])
    if opts.factorGAN and opts.model is None:
        disc = FactorisedDiscriminator(
            factorisation, {"map": ConvDiscriminator(MAP, size, width)},
            dep_p=ConvDiscriminator(PHOTO + MAP, size, width, bool(opts.lipschitz_p)) if opts.use_real_dep_disc else None,
            dep_q=ConvDiscriminator(PHOTO + MAP, size, width, bool(opts.lipschitz_q)),
        )
        photos = images[:, :PHOTO]
    else:
        disc = FactorisedDiscriminator.joint(factorisation, ConvDiscriminator(PHOTO + MAP, size, width))
        photos = images[:n_paired, :PHOTO]
    extra = [PairedL1(paired, PHOTO, opts.nz, opts.l1_weight)] if opts.model == "pix2pix" else []
    return GANSetup(ConditionalGenerator(unet()).to(device), disc.to(device),
                    ConditionalInput(TensorPool(photos), opts.nz), assign_pools(disc, paired, everything), extra)


class ConstantMap:
    """A photo-blind predictor: the same map for every photo."""

    def __init__(self, colour_map: Tensor) -> None:
        self.colour_map = colour_map

    def __call__(self, photos: Tensor) -> Tensor:
        return self.colour_map.to(photos.device).expand(photos.shape[0], -1, -1, -1)


def score(predict: Any, val: Tensor, device: torch.device, batch_size: int = 50) -> dict[str, float]:
    """Mean per-image pixel accuracy (%) and MSE of predict over val pairs (N, 6, H, W) uint8."""
    acc, err = [], []
    for i in range(0, val.shape[0], batch_size):
        batch = as_float(val[i:i + batch_size].to(device))
        pred = predict(batch[:, :PHOTO])
        acc.append(pixel_accuracy(pred, batch[:, PHOTO:]))
        err.append(mse(pred, batch[:, PHOTO:]))
    acc_all = torch.cat(acc)
    return {"accuracy": 100 * float(acc_all[~acc_all.isnan()].mean()), "mse": float(torch.cat(err).mean())}


def save_examples(predict: WithNoise, val: Tensor, path: Path) -> None:
    """Grid of rows photo | prediction | ground truth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = as_float(val)
    triples = torch.cat([batch[:, :PHOTO], predict(batch[:, :PHOTO]), batch[:, PHOTO:]], dim=3)
    save_image(triples.cpu(), str(path), nrow=4, padding=2, pad_value=1.0)


def fid_kid(setup: GANSetup, opts: argparse.Namespace, val: Tensor, run: Run, columns: list[Any]) -> dict[str, Any]:
    """FID/KID of the predicted maps and of (photo, predicted map) pairs vs the
    validation pairs val (N, 6, H, W); rows in FID_KID.csv. Empty when skipped."""
    rng = torch.Generator(device=val.device).manual_seed(opts.seed + 2)  # apart from the accuracy's draws
    fake = partial(predicted_pairs, WithNoise(setup.generator.predictor, opts.nz, rng), val)
    layout = image_fid.PairLayout(PHOTO, ("photo", "map"), ("map", "joint"))
    cache = cache_dir(opts) / f"fid_cityscapes_val_{opts.loadSize}px"
    scores = image_fid.scores_or_none(opts, val, fake, layout, cache)
    if scores is None:
        return {}
    append_csv(run.path.parent / "FID_KID.csv",
               [*image_fid.CSV_COLUMNS, "Model", "Paired samples", "Protocol", "Real", "Generated", "Experiment"],
               image_fid.csv_rows(scores, *columns, len(val), len(val), opts.experiment_name), delimiter=",")
    return {"fid_kid": scores, "fid_kid_images": len(val)}


def predicted_pairs(predict: WithNoise, val: Tensor, batch_size: int = 50) -> Tensor:
    """val (N, 6, H, W) pairs -> (N, 6, H, W) uint8: the same photos with predicted maps."""
    out = []
    for i in range(0, val.shape[0], batch_size):
        photos = as_float(val[i:i + batch_size, :PHOTO])
        out.append(image_fid.to_uint8(torch.cat([photos, predict(photos)], dim=1)))
    return torch.cat(out)


if __name__ == "__main__":
    sys.exit(main(Image2Image()))
