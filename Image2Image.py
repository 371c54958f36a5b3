"""Image2Image (paper Sec. 4.3, Fig. 4): Cityscapes photo -> colour segmentation
map with a U-Net, from few paired and many unpaired photos and maps; scored by
pixel accuracy and MSE on the validation set (the paper's), and by mean class
accuracy and mean IoU (ours).

    python Image2Image.py --factorGAN 1 --num_joint_samples 25
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchvision.utils import save_image

from datasets.pix2pix import load_split
from eval import image_fid
from eval.cityscapes import (
    CLASS_NAMES,
    NUM_CLASSES,
    class_scores,
    confusion_matrix,
    evaluated,
    image_accuracy,
    mse,
    predicted_classes,
    prior_map,
    true_classes,
)
from eval.sampling import WithNoise
from eval.visualise import as_rgb
from models.conv import ConvDiscriminator
from models.cyclegan import CycleGenerator
from models.unet import ConditionalGenerator, UNet
from training.data import ConditionalInput, TensorPool, UnpairedInput, as_float
from training.discriminator import SeparateDiscriminators, factorised_or_joint
from training.factorisation import Factorisation
from training.loop import GANSetup, assign_pools
from training.losses import CycleConsistency, Identity, PairedL1
from training.models_registry import MODELS, model_name, option_values
from training.options import UserError, cache_dir, check_image_size, paired_count, protocol_name
from training.own_images import (
    add_folder_options,
    check_folder_options,
    load_own_images,
    load_own_val,
    val_set_name,
)
from training.runner import Experiment, Run, append_csv, main

PHOTO, MAP = 3, 3
PROTOCOLS = {
    "paper": {"loadSize": 128, "generator_channels": 32, "batchSize": 25, "steps": 200000},
    "cpu": {"loadSize": 64, "generator_channels": 16, "batchSize": 16, "steps": 2000},
}
# Image2Image_Cityscapes.csv: Metric -> key of score(); the paper's two first, then ours
CSV_METRICS = (("MSE", "mse"), ("Accuracy", "accuracy"), ("mean class accuracy", "mean_class_accuracy"),
               ("mean IoU", "mean_iou"))


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
        g.add_argument("--model", choices=option_values("model", self.task), default=None,
                       help="train a baseline instead of GAN/FactorGAN: CycleGAN (no pairs) or pix2pix (pairs only)")
        g.add_argument("--cycle_weight", type=float, default=10.0, help="CycleGAN: cycle-consistency L1 weight")
        g.add_argument("--identity_weight", type=float, default=0.5,
                       help="CycleGAN: identity L1 weight, relative to --cycle_weight")
        g.add_argument("--l1_weight", type=float, default=100.0, help="pix2pix: L1 weight")
        g.add_argument("--eval_subset", type=int, default=100,
                       help="--eval_every scores the first K validation images in sorted file order "
                            "(of Cityscapes' 500), with fixed noise")
        image_fid.add_fid_options(g)
        add_folder_options(g, "input (photo)", "output (map)")

    def default_name(self, opts: argparse.Namespace) -> str:
        own = "" if opts.pairs is None else "own_"
        return f"{own}{model_name(opts, self.task)}_{opts.num_joint_samples}joint"

    def build(self, opts: argparse.Namespace, device: torch.device) -> tuple[GANSetup, dict[str, Any]]:
        check_image_size(opts.loadSize, smallest=16)  # U-Net: four halvings
        check_folder_options(opts)
        if opts.pairs is None:
            images, names = load_split(opts.data_root, "cityscapes", "train", opts.loadSize, cache_dir(opts),
                                       progress=not opts.no_progress)
            n_paired = paired_count(opts, "num_joint_samples", len(images), "training pairs")
            images = images.to(device)
            photos, maps = images[:, :PHOTO], images[:, PHOTO:]
            split = {"num_joint_samples": n_paired, "train_images": len(names), "paired_files": names[:n_paired]}
        else:  # the user's own folders: photos and maps seen alone join their part's pool
            own = load_own_images(opts, device)
            images, n_paired, split = own.pairs, own.n_paired, own.split(opts)
            photos, maps = own.parts(opts.channels[0])
        self.train_maps = maps  # for the photo-blind baselines
        self.val = validation_pairs(opts)  # read before training: a bad folder fails now
        if opts.eval_every and not opts.eval:
            if opts.eval_subset < 1:
                raise UserError(f"--eval_subset must be at least 1, got {opts.eval_subset}")
            if self.val is None:
                raise UserError("--eval_every needs validation pairs: add --val_pairs")
            self.val_subset = self.val[: opts.eval_subset].to(device)
        return build_gan(opts, device, images[:n_paired], photos, maps), split

    def baselines(self, classes: bool) -> dict[str, ConstantMap]:
        """The photo-blind predictors, from the training maps (the per-pixel
        class prior needs Cityscapes' classes)."""
        mean_map = {"mean map (photo-blind)": ConstantMap(as_float(self.train_maps).mean(0))}
        return {"prior (photo-blind)": ConstantMap(prior_map(self.train_maps)), **mean_map} if classes else mean_map

    def evaluate(self, setup: GANSetup, opts: argparse.Namespace, run: Run) -> dict[str, Any]:
        device = next(setup.generator.parameters()).device
        model, classes, photo = model_name(opts, self.task), opts.pairs is None, channels_of(opts)[0]
        val = self.val  # the validation pairs, read by build
        if val is None:
            print("note: no --val_pairs: nothing to evaluate on", flush=True)
            return {"model": model, "num_joint_samples": opts.num_joint_samples}
        rng = torch.Generator(device=device).manual_seed(opts.seed + 1)
        predictor = WithNoise(setup.generator.predictor, opts.nz, rng)  # photos -> maps
        baselines = self.baselines(classes)
        scores = {model: score(predictor, val, device, photo, classes)}
        scores.update({name: score(predict, val, device, photo, classes) for name, predict in baselines.items()})
        save_examples(predictor, val[: opts.num_examples].to(device), run.samples / "val_examples.png", photo)
        protocol = protocol_name(PROTOCOLS, opts)
        if classes:
            append_csv(run.path.parent / "Image2Image_Cityscapes.csv",
                       ["Paired samples", "Perf", "Model", "Metric", "Protocol", "Experiment"],
                       csv_rows(scores, opts, protocol), delimiter=",")
        ours = scores.pop(model)
        results = {"model": model, "num_joint_samples": opts.num_joint_samples,
                   "protocol": protocol, **ours, "baselines": scores,
                   **fid_kid(setup, opts, val.to(device), run, [model, opts.num_joint_samples, protocol])}
        if opts.eval_every:  # the images of the val/ curves: the generator (the curve's last point
            # when it was scored at the final update) and the baselines, for reference lines beside them
            subset = val[: opts.eval_subset].to(device)
            results["val_subset"] = {"images": len(subset), model: subset_scores(setup, opts, subset), "baselines": {
                name: headline(score(predict, subset, device, photo, classes)) for name, predict in baselines.items()}}
        return results

    def periodic_scores(self, setup: GANSetup, opts: argparse.Namespace) -> dict[str, float]:
        """subset_scores on the first --eval_subset val images, pixel accuracy
        named pixel_accuracy."""
        s = subset_scores(setup, opts, self.val_subset)
        if "accuracy" in s:
            s["pixel_accuracy"] = s.pop("accuracy")
        return s


def subset_scores(setup: GANSetup, opts: argparse.Namespace, subset: Tensor) -> dict[str, float]:
    """The generator's headline scores on subset (N, C, H, W) uint8 with the
    same noise every time (its own RNG, seeded --seed + 1): accuracy,
    mean_class_accuracy, mean_iou (%) and mse."""
    device = next(setup.generator.parameters()).device
    rng = torch.Generator(device=device).manual_seed(opts.seed + 1)
    return headline(score(WithNoise(setup.generator.predictor, opts.nz, rng), subset, device,
                          channels_of(opts)[0], classes=opts.pairs is None))


def channels_of(opts: argparse.Namespace) -> tuple[int, int]:
    """(photo channels, map channels): Cityscapes' 3 and 3, or --channels with --pairs."""
    return (PHOTO, MAP) if opts.pairs is None else (opts.channels[0], opts.channels[1])


def validation_pairs(opts: argparse.Namespace) -> Tensor | None:
    """(N, C, H, W) uint8 validation pairs: Cityscapes' val split, or --val_pairs (None without it)."""
    if opts.pairs is not None:
        return load_own_val(opts)
    return load_split(opts.data_root, "cityscapes", "val", opts.loadSize, cache_dir(opts),
                      progress=not opts.no_progress)[0]


def build_gan(opts: argparse.Namespace, device: torch.device, paired: Tensor, photos: Tensor,
              maps: Tensor) -> GANSetup:
    """paired: (n, cP + cM, S, S) complete pairs; photos (N, cP, S, S) and maps
    (M, cM, S, S): every photo and every map observed (those of the pairs included).

    FactorGAN: a marginal discriminator on all maps, D_P on paired (photo, map),
    D_Q on (photo, prediction); the generator's photos are all photos. GAN: one
    joint discriminator and photos, both paired only; pix2pix adds an L1 loss
    to the true maps. CycleGAN: photo and map discriminators and translators
    both ways, on all photos and maps, no pairs."""
    size, width, sn = opts.loadSize, opts.disc_channels, opts.sn_impl
    model = model_name(opts, Image2Image.task)
    photo, map_ = channels_of(opts)
    factorisation = Factorisation([("photo", photo), ("map", map_)], dim=1)
    pairs = TensorPool(paired)
    parts = {"photo": TensorPool(photos), "map": TensorPool(maps)}

    def unet(source: int, target: int) -> UNet:
        return UNet(source, target, opts.nz, size, size, opts.generator_channels)

    if model == "CycleGAN":
        terms = [CycleConsistency(photo, opts.cycle_weight)]
        if opts.identity_weight:  # each translator is also given the other domain's images
            if photo != map_:
                raise UserError(f"CycleGAN's identity loss needs the same channel count in both parts, not {photo} "
                                f"and {map_} (--channels): give --identity_weight 0, or equal --channels")
            terms.append(Identity(opts.identity_weight * opts.cycle_weight))
        disc = SeparateDiscriminators(factorisation, {"photo": ConvDiscriminator(photo, size, width, sn_impl=sn),
                                                      "map": ConvDiscriminator(map_, size, width, sn_impl=sn)})
        return GANSetup(CycleGenerator(unet(photo, map_), unet(map_, photo)).to(device), disc.to(device),
                        UnpairedInput(parts["photo"], parts["map"], opts.nz), assign_pools(disc, pairs, parts), terms)
    disc = factorised_or_joint(
        model, factorisation,
        marginal=lambda part: ConvDiscriminator(factorisation.sizes[part], size, width, sn_impl=sn),
        joint=lambda spectral_norm: ConvDiscriminator(photo + map_, size, width, spectral_norm, sn_impl=sn),
        lipschitz=(bool(opts.lipschitz_p), bool(opts.lipschitz_q)), marginal_parts=("map",))
    inputs = parts["photo"] if MODELS[model].factorised else TensorPool(paired[:, :photo])
    extra = [PairedL1(pairs, photo, opts.nz, opts.l1_weight)] if model == "pix2pix" else []
    return GANSetup(ConditionalGenerator(unet(photo, map_)).to(device), disc.to(device),
                    ConditionalInput(inputs, opts.nz), assign_pools(disc, pairs, parts), extra)


class ConstantMap:
    """A photo-blind predictor: the same map for every photo."""

    def __init__(self, colour_map: Tensor) -> None:
        self.colour_map = colour_map

    def __call__(self, photos: Tensor) -> Tensor:
        return self.colour_map.to(photos.device).expand(photos.shape[0], -1, -1, -1)


def score(predict: Any, val: Tensor, device: torch.device, photo: int = PHOTO, classes: bool = True,
          batch_size: int = 50) -> dict[str, Any]:
    """Scores of predict over val pairs (N, photo + map channels, H, W) uint8:
    mse, averaged over images, and with classes (Cityscapes' colour maps), in %:
    accuracy, the paper's per-image pixel accuracy averaged over images;
    mean_class_accuracy, mean_iou and per_class (name -> {"accuracy", "iou"},
    None where undefined) from one confusion matrix over all pixels
    (``eval.cityscapes.class_scores``)."""
    acc, err = [], []
    confusion = torch.zeros(NUM_CLASSES, NUM_CLASSES + 1, dtype=torch.long, device=device)
    for i in range(0, val.shape[0], batch_size):
        batch = as_float(val[i:i + batch_size].to(device))
        pred = predict(batch[:, :photo])
        err.append(mse(pred, batch[:, photo:]))
        if classes:
            pred_classes, truth = predicted_classes(pred), true_classes(batch[:, photo:])
            acc.append(image_accuracy(pred_classes, truth))
            confusion += confusion_matrix(pred_classes, truth, evaluated(truth))
    if not classes:
        return {"mse": float(torch.cat(err).mean())}
    acc_all = torch.cat(acc)
    class_table = class_scores(confusion.cpu())
    per_class = {name: {"accuracy": _percent(a), "iou": _percent(u)} for name, a, u
                 in zip(CLASS_NAMES, class_table["class_accuracy"].tolist(), class_table["iou"].tolist(), strict=True)}
    return {"accuracy": 100 * float(acc_all[~acc_all.isnan()].mean()), "mse": float(torch.cat(err).mean()),
            "mean_class_accuracy": 100 * class_table["mean_class_accuracy"],
            "mean_iou": 100 * class_table["mean_iou"], "per_class": per_class}


def _percent(fraction: float) -> float | None:
    return None if math.isnan(fraction) else 100 * fraction


def headline(scores: dict[str, Any]) -> dict[str, float]:
    """score()'s numbers without the per-class table."""
    return {k: v for k, v in scores.items() if k != "per_class"}


def csv_rows(scores: dict[str, dict[str, Any]], opts: argparse.Namespace, protocol: str) -> list[list[Any]]:
    """Rows of Image2Image_Cityscapes.csv for each model's score(): the
    CSV_METRICS, then "IoU <class>" for every class with an IoU (present in
    the ground truth or the prediction)."""
    rows = []
    for model, s in scores.items():
        values = [(metric, s[key]) for metric, key in CSV_METRICS]
        values += [(f"IoU {name}", c["iou"]) for name, c in s["per_class"].items() if c["iou"] is not None]
        rows += [[opts.num_joint_samples, round(v, 5), model, metric, protocol, opts.experiment_name]
                 for metric, v in values]
    return rows


def save_examples(predict: WithNoise, val: Tensor, path: Path, photo: int = PHOTO) -> None:
    """Grid of rows photo | prediction | ground truth (grey parts shown as grey RGB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = as_float(val)
    shown = [batch[:, :photo], predict(batch[:, :photo]), batch[:, photo:]]
    triples = torch.cat([as_rgb(x) for x in shown], dim=3)
    save_image(triples.cpu(), str(path), nrow=4, padding=2, pad_value=1.0)


def fid_kid(setup: GANSetup, opts: argparse.Namespace, val: Tensor, run: Run, columns: list[Any]) -> dict[str, Any]:
    """FID/KID of the predicted maps and of (photo, predicted map) pairs vs the
    validation pairs val (N, 6, H, W); rows in FID_KID.csv. Empty when skipped."""
    rng = torch.Generator(device=val.device).manual_seed(opts.seed + 2)  # apart from the accuracy's draws
    photo = channels_of(opts)[0]
    fake = partial(predicted_pairs, WithNoise(setup.generator.predictor, opts.nz, rng), val, photo)
    layout = image_fid.PairLayout(photo, ("photo", "map"), ("map", "joint"))
    cache = cache_dir(opts) / f"fid_{val_set_name(opts, 'cityscapes')}_val_{opts.loadSize}px"
    scores = image_fid.scores_or_none(opts, val, fake, layout, cache)
    if scores is None:
        return {}
    append_csv(run.path.parent / "FID_KID.csv",
               [*image_fid.CSV_COLUMNS, "Model", "Paired samples", "Protocol", "Real", "Generated", "Experiment"],
               image_fid.csv_rows(scores, *columns, len(val), len(val), opts.experiment_name), delimiter=",")
    return {"fid_kid": scores, "fid_kid_images": len(val)}


def predicted_pairs(predict: WithNoise, val: Tensor, photo: int = PHOTO, batch_size: int = 50) -> Tensor:
    """val (N, C, H, W) pairs -> (N, C, H, W) uint8: the same photos with predicted maps."""
    out = []
    for i in range(0, val.shape[0], batch_size):
        photos = as_float(val[i:i + batch_size, :photo])
        out.append(image_fid.to_uint8(torch.cat([photos, predict(photos)], dim=1)))
    return torch.cat(out)


if __name__ == "__main__":
    sys.exit(main(Image2Image()))
