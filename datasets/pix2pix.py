"""pix2pix-format image-pair folders, decoded once and held in memory.

``<data_root>/<dataset>/<split>/*.jpg``: every image holds the input (A, left)
and the output (B, right) side by side. Both halves are resized bicubically to
size x size and concatenated along channels; edges2shoes' edge maps become one
grey channel. The decoded set is kept as one uint8 tensor (N, C, size, size)
and cached on disk, so training never decodes a JPEG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from tqdm import tqdm

from common.errors import UserError
from common.io import load_cache, save_atomic, warn_rebuilt

# dataset -> (channels of A, channels of B)
CHANNELS = {"cityscapes": (3, 3), "edges2shoes": (1, 3)}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder in sorted (lexicographic) order, as the reference."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def decode_pair(path: Path, size: int, grey_a: bool) -> np.ndarray:
    """One side-by-side image -> (C, size, size) uint8, A's channels first."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"cannot read image {path} ({err}); replace or delete the file") from None
    width, height = img.size
    if width != 2 * height:
        raise UserError(f"{path} is {width}x{height}, not two square halves side by side "
                        "(pix2pix format: input | output); fix or remove it")
    halves = [img.crop((0, 0, height, height)), img.crop((height, 0, width, height))]
    a, b = (h.resize((size, size), Image.Resampling.BICUBIC) for h in halves)
    if grey_a:
        a = a.convert("L")
    arrays = [np.asarray(x).reshape(size, size, -1) for x in (a, b)]
    return np.concatenate(arrays, axis=2).transpose(2, 0, 1)


def _cache_path(cache_dir: Path, dataset: str, split: str, size: int) -> Path:
    return cache_dir / f"{dataset}_{split}_{size}px.pt"


def load_split(data_root: str | Path, dataset: str, split: str, size: int,
               cache_dir: str | Path | None = None, progress: bool = True) -> tuple[Tensor, list[str]]:
    """Decode (or load from cache) one split.

    Returns images (N, C, size, size) uint8 and the file names in order.
    """
    if dataset not in CHANNELS:
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(CHANNELS)}")
    folder = Path(data_root) / dataset / split
    if not folder.is_dir():
        raise UserError(f"{folder} not found: run `python -m datasets.download {dataset} "
                        f"--data_root {data_root}` or place the pix2pix folders "
                        f"{dataset}/train and {dataset}/val under --data_root")
    files = list_images(folder)
    if not files:
        raise UserError(f"no images in {folder}; expected pix2pix-format .jpg files")
    names = [f.name for f in files]
    cache = _cache_path(Path(cache_dir), dataset, split, size) if cache_dir else None
    stored = load_cache(cache, keys=("images", "files")) if cache is not None else None
    if stored is not None and stored["files"] == names:
        images, shape = stored["images"], (len(names), sum(CHANNELS[dataset]), size, size)
        if isinstance(images, Tensor) and images.dtype == torch.uint8 and tuple(images.shape) == shape:
            return images, names
        warn_rebuilt(cache, f"holds no uint8 images of shape {shape}")
    grey_a = CHANNELS[dataset][0] == 1
    decoded = [decode_pair(f, size, grey_a)
               for f in tqdm(files, desc=f"decoding {dataset}/{split}", disable=not progress, leave=False)]
    images = torch.from_numpy(np.stack(decoded))
    if cache is not None:
        write_cache(cache, {"images": images, "files": names})
    return images, names


def write_cache(cache: Path, obj: dict) -> None:
    """save_atomic, or a note (not an error) where the cache folder cannot be written."""
    try:
        save_atomic(obj, cache)
    except OSError as err:  # a read-only data folder: work without a cache
        print(f"note: could not cache decoded images at {cache} ({err.strerror}); use --cache_dir",
              flush=True)
