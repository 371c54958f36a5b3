"""FID and KID of generated image pairs vs real ones (ImagePairs, Image2Image).

The Inception network, its weights and the FID/KID formulas are torch-fidelity's
(``FeatureExtractorInceptionV3``, 2048-d pool features; ``metric_fid`` and
``metric_kid``). Each "view" of a pair is scored on its own: either image, and
the joint pair drawn side by side (input | output), which FID only matches
when the two images belong together. Grey images are repeated to RGB.

The feature extractor is any ``features(images) -> (N, D)`` callable on
(N, 3, H, W) uint8 images, so tests can pass a tiny one. Inception's features
of the real validation pairs are cached (they are the same for every run).

Inception weights: ``--fid_weights PATH``, else torch-fidelity's file in
torch's hub cache (``$TORCH_HOME/hub/checkpoints/``, by default
``~/.cache/torch/hub/checkpoints/``), downloaded there when missing and online.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from common.cli import int01
from common.io import load_cache, save_atomic
from common.tensors import as_float
from eval.visualise import as_rgb, pairs_to_rgb

Features = Callable[[Tensor], Tensor]  # (N, 3, H, W) uint8 -> (N, D) float
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's name for it
CSV_COLUMNS = ["View", "FID", "KID", "KID_std"]


def add_fid_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--fid", type=int01, default=1,
                   help="1: also score FID and KID (torch-fidelity's Inception) of each image and of the pair "
                        "vs the validation split")
    g.add_argument("--fid_weights", type=_existing_file, default=None,
                   help="local Inception weights for FID/KID (torch-fidelity's " + INCEPTION_FILE + "); default: "
                        "torch's hub cache, downloaded when online")


def _existing_file(value: str) -> str:
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"no file at {value}")
    return value


def inception_url() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3  # slow import: only when scoring

    return URL_INCEPTION_V3


def inception_cache_file() -> Path:
    """Where torch-fidelity's download lands: torch's hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def download_inception(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(inception_url(), str(path), progress=False)


def offline_message(path: Path) -> str:
    return (f"FID/KID skipped: no Inception weights at {path} and no download (offline?); get {inception_url()} "
            f"and put it there, or pass --fid_weights PATH (--fid 0 hides this line)")


@dataclass(frozen=True)
class PairLayout:
    """How a pair lies along the channels, and which views of it are scored."""

    split: int  # channels of the first image
    names: tuple[str, str]  # the two images' names
    views: tuple[str, ...]  # scored views: names[0], names[1] and/or "joint"


class InceptionFeatures:
    """torch-fidelity's InceptionV3: (N, 3, H, W) uint8 -> (N, 2048) pool features (resized to 299 inside)."""

    def __init__(self, weights: Path, device: torch.device) -> None:
        from torch_fidelity import FeatureExtractorInceptionV3

        self.name = f"inception2048_{weights.stem}"  # names the cached real features
        self.model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                 feature_extractor_weights_path=str(weights)).to(device)

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        return self.model(images)[0]


def load_inception(weights: str | None, device: torch.device) -> Features | None:
    """The Inception feature extractor, or None (after printing one line) when
    no weights file is given, none is cached and the download fails."""
    path = Path(weights) if weights else inception_cache_file()
    if not path.is_file():
        try:
            download_inception(path)
        except OSError:
            print(offline_message(path), file=sys.stderr)
            return None
    return InceptionFeatures(path, device)


def to_uint8(images: Tensor) -> Tensor:
    """Images in [0, 1] -> uint8 in [0, 255] (uint8 images pass unchanged)."""
    return images if images.dtype == torch.uint8 else images.clamp(0, 1).mul(255).round().to(torch.uint8)


def to_uint8_rgb(images: Tensor) -> Tensor:
    """(N, C, H, W) in [0, 1] (or uint8), C = 1 or 3 -> (N, 3, H, W) uint8."""
    return as_rgb(to_uint8(images))


def pair_views(x: Tensor, layout: PairLayout) -> dict[str, Tensor]:
    """x: (N, Ca + Cb, H, W) pairs, input first -> {names[0]: (N, Ca, H, W),
    names[1]: (N, Cb, H, W), "joint": (N, 3, H, 2W) side by side}."""
    a, b = layout.names
    return {a: x[:, :layout.split], b: x[:, layout.split:], "joint": pairs_to_rgb(x, layout.split)}


def view_features(features: Features, x: Tensor, layout: PairLayout, batch_size: int = 50) -> dict[str, Tensor]:
    """Features of each scored view of pairs x (N, C, H, W), uint8 or float: view -> (N, D) on the CPU."""
    out: dict[str, list[Tensor]] = {v: [] for v in layout.views}
    for i in range(0, x.shape[0], batch_size):
        batch = pair_views(as_float(x[i:i + batch_size]), layout)
        for view in layout.views:
            out[view].append(features(to_uint8_rgb(batch[view])).float().cpu())
    return {view: torch.cat(chunks) for view, chunks in out.items()}


def cached_view_features(features: Features, x: Tensor, layout: PairLayout, cache: Path | None) -> dict[str, Tensor]:
    """view_features, kept in cache_<extractor name>.pt when the extractor has a name."""
    name = getattr(features, "name", None)
    path = cache.with_name(f"{cache.name}_{name}.pt") if cache is not None and name else None
    saved = load_cache(path, keys=layout.views) if path is not None else None
    if saved is not None and all(saved[v].shape[0] == x.shape[0] for v in layout.views):
        return {v: saved[v] for v in layout.views}
    out = view_features(features, x, layout)
    if path is not None:
        save_atomic(out, path)
    return out


def fid_kid(real: Tensor, fake: Tensor, seed: int = 2020) -> dict[str, float]:
    """real: (N, D), fake: (M, D) features -> FID, KID (mean over subsets) and its std, by torch-fidelity.

    KID uses torch-fidelity's 100 subsets, of min(1000, N, M) samples each.
    """
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    stats = [fid_features_to_statistics(f) for f in (real, fake)]
    fid = fid_statistics_to_metric(*stats, verbose=False)[KEY_METRIC_FID]
    kid = kid_features_to_metric(real, fake, kid_subset_size=min(1000, len(real), len(fake)), rng_seed=seed,
                                 verbose=False)
    return {"fid": fid, "kid": kid[KEY_METRIC_KID_MEAN], "kid_std": kid[KEY_METRIC_KID_STD]}


def pair_fid_kid(features: Features, real: Tensor, fake: Tensor, layout: PairLayout, seed: int = 2020,
                 real_cache: Path | None = None) -> dict[str, dict[str, float]]:
    """FID/KID of each scored view of generated pairs fake (M, C, H, W) vs real pairs (N, C, H, W)."""
    real_f = cached_view_features(features, real, layout, real_cache)
    fake_f = view_features(features, fake, layout)
    return {view: fid_kid(real_f[view], fake_f[view], seed) for view in layout.views}


def scores_or_none(opts: argparse.Namespace, real: Tensor, fake: Callable[[], Tensor], layout: PairLayout,
                   real_cache: Path) -> dict[str, dict[str, float]] | None:
    """pair_fid_kid with Inception (KID subsets drawn with --seed), or None
    when switched off (--fid 0) or without weights (then one line says how to
    get them). fake() draws the generated pairs only when they are scored."""
    if not opts.fid:
        return None
    features = load_inception(opts.fid_weights, real.device)
    if features is None:
        return None
    return pair_fid_kid(features, real, fake(), layout, opts.seed, real_cache)


def csv_rows(scores: dict[str, dict[str, float]], *tail: object) -> list[list[object]]:
    """One CSV row per view: View, FID, KID, KID_std, then the run's columns `tail`."""
    return [[view, round(s["fid"], 4), round(s["kid"], 6), round(s["kid_std"], 6), *tail]
            for view, s in scores.items()]
