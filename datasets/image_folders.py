"""Your own paired and unpaired images: folders of .jpg, .jpeg or .png files.

FactorGAN learns from a few *complete pairs* (A and B of the same sample) and
many more images of each part *seen alone*. Give them as folders; other files
and hidden files in them are ignored, and files are taken in sorted order.

* Pairs, side by side (the pix2pix format): ONE folder whose every image holds
  A in its left half and B in its right half, so it is exactly twice as wide as
  it is high::

      facades/train/0001.jpg    (512 x 256: A | B)

* Pairs, two folders: A and B as separate images, matched by file name without
  the extension; every image needs its partner in the other folder::

      photos/0001.jpg  <->  maps/0001.png
      photos/0002.jpg  <->  maps/0002.png

* A part seen alone: one folder of A images (or of B images), any names::

      more_photos/*.jpg         more_maps/*.png

Every image (each half of a side-by-side one) is resized bicubically to
size x size; non-square images are stretched, so crop them first to keep their
aspect ratio. Images are read as image viewers show them (EXIF rotation is
applied); transparency is dropped.

Each part is grey (1 channel) or RGB (3 channels). A grey part accepts grey
images, and colour files whose pixels are all grey up to compression noise; a
real colour image there is an error rather than silently losing its colour. An
RGB part accepts colour images and expands grey ones to R = G = B. 16-bit grey
PNGs are scaled to 8 bits.

With a cache_dir, every decoded file is kept there with its size and
modification time, so a later run decodes only new or changed files, also after
a run stopped at a bad file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor
from tqdm import tqdm

from common.errors import UserError
from common.io import load_cache
from datasets.pix2pix import list_images, write_cache

CACHE_VERSION = 1
GREY_TOLERANCE = 16  # channels this far apart (of 255) still count as grey: JPEG noise
COLOUR_SHARE = 0.01  # an image is colour when more than this share of its pixels is not grey
SIXTEEN_BIT = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
LISTED = 3  # file names quoted in an error about several files

Folder = str | Path


def load_pairs(source: Folder | Sequence[Folder], size: int, channels: tuple[int, int],
               cache_dir: Folder | None = None, progress: bool = True) -> tuple[Tensor, list[str]]:
    """The complete pairs: (N, cA + cB, size, size) uint8, A's channels first, and their names.

    source: one folder of side-by-side images (A | B), or two folders [A, B] of
    separate images matched by file name without extension. channels: (cA, cB),
    each 1 (grey) or 3 (RGB). Names are the file names (one folder) or the shared
    names without extension (two folders), sorted.
    """
    folders = [Path(source)] if isinstance(source, str | Path) else [Path(s) for s in source]
    for c in channels:
        _check_channels(c)
    if len(folders) == 1:
        files = _image_files(folders[0])
        decode = partial(_decode_side_by_side, size=size, channels=channels)
        cache = _cache_file(cache_dir, "pairs", folders[0], f"{size}px_{channels[0]}+{channels[1]}ch")
        return _decode_cached(files, decode, cache, progress), [f.name for f in files]
    if len(folders) == 2:
        names, files_a, files_b = _matched(*folders)
        a = _load_images(files_a, folders[0], size, channels[0], cache_dir, progress, "part A")
        b = _load_images(files_b, folders[1], size, channels[1], cache_dir, progress, "part B")
        return torch.cat([a, b], dim=1), names
    raise UserError(f"give the pairs as one folder of side-by-side images or as two folders (A, B), "
                    f"not {len(folders)} folders")


def load_part(folder: Folder, size: int, channels: int, cache_dir: Folder | None = None,
              progress: bool = True, *, part: str | None = None) -> tuple[Tensor, list[str]]:
    """Images of one part seen alone: (M, channels, size, size) uint8 and their sorted file names.

    channels: 1 reads grey images (a colour image is an error), 3 reads RGB (grey
    images are expanded). part: the part's name in error messages, e.g. "A".
    """
    folder = Path(folder)
    _check_channels(channels)
    files = _image_files(folder)
    label = f"part {part}" if part else "this part"
    return _load_images(files, folder, size, channels, cache_dir, progress, label), [f.name for f in files]


def _check_channels(channels: int) -> None:
    if channels not in (1, 3):
        raise UserError(f"a part has 1 (grey) or 3 (RGB) channels, not {channels}")


def _image_files(folder: Path) -> list[Path]:
    """The folder's images in sorted order; an error if there are none."""
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "not found"
        raise UserError(f"image folder {folder} {what}; check the path")
    files = [p for p in list_images(folder) if p.is_file() and not p.name.startswith(".")]
    if not files:
        others = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        hint = f" (only {_quote(others, 'other file')}: convert images to PNG)" if others else ""
        raise UserError(f"no .jpg, .jpeg or .png images in {folder}{hint}")
    return files


def _quote(names: list[str], noun: str = "image") -> str:
    """'4 images (a.jpg, b.jpg, c.jpg, ...)'"""
    listed = ", ".join(names[:LISTED]) + (", ..." if len(names) > LISTED else "")
    return f"{len(names)} {noun}{'s' if len(names) > 1 else ''} ({listed})"


def _by_stem(folder: Path) -> dict[str, Path]:
    """The folder's images by file name without extension."""
    files: dict[str, Path] = {}
    for f in _image_files(folder):
        if f.stem in files:
            raise UserError(f"{folder} holds two images named {f.stem} ({files[f.stem].name} and {f.name}); "
                            "pairs are matched by file name without extension: keep one of them")
        files[f.stem] = f
    return files


def _matched(folder_a: Path, folder_b: Path) -> tuple[list[str], list[Path], list[Path]]:
    """Shared names (sorted) and the A and B files of each; an error naming unmatched files."""
    a, b = _by_stem(folder_a), _by_stem(folder_b)
    unmatched = [(f"{_quote(sorted(files[s].name for s in files.keys() - others.keys()))} in {folder} "
                  f"without a partner in {other}")
                 for files, others, folder, other in ((a, b, folder_a, folder_b), (b, a, folder_b, folder_a))
                 if files.keys() - others.keys()]
    if unmatched:
        raise UserError("; ".join(unmatched) + ": pairs are matched by file name without extension; rename them, "
                        "or move them to a folder of that part alone")
    names = sorted(a)
    return names, [a[n] for n in names], [b[n] for n in names]


def open_image(path: Path) -> Image.Image:
    """Read a whole image file, turned as viewers show it (EXIF orientation)."""
    try:
        with Image.open(path) as img:
            img.load()
            return ImageOps.exif_transpose(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        if isinstance(err, UnidentifiedImageError):  # its text repeats the path
            reason = "not an image, or of an unsupported format"
        raise UserError(f"cannot read image {path} ({reason}); replace or delete the file") from None


def _grey_or_rgb(img: Image.Image, path: Path) -> Image.Image:
    """Any image mode -> 8-bit "L" (grey modes, 16-bit grey scaled) or "RGB" (the rest, alpha dropped)."""
    if img.mode in SIXTEEN_BIT:
        values = np.asarray(img).astype(np.float64) / 257  # 65535 -> 255
        return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8))
    if img.mode in {"1", "L", "LA", "La"}:
        return img.convert("L")
    try:
        if img.mode == "F":
            raise ValueError
        return img.convert("RGB")
    except ValueError:
        raise UserError(f"cannot convert image {path} (mode {img.mode}) to RGB; "
                        "save it as an 8-bit RGB or grey PNG or JPEG") from None


def _is_colour(rgb: np.ndarray) -> bool:
    """rgb: (H, W, 3) uint8. More than COLOUR_SHARE of pixels with channels over GREY_TOLERANCE apart."""
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    return float((spread > GREY_TOLERANCE).mean()) > COLOUR_SHARE


def all_grey(images: Tensor) -> bool:
    """images: (N, 3, H, W) uint8, N >= 1. True when none is a colour image (as _is_colour decides)."""
    spread = images.amax(1).short() - images.amin(1).short()  # (N, H, W)
    return bool(((spread > GREY_TOLERANCE).float().mean((1, 2)) <= COLOUR_SHARE).all())


def _fit(img: Image.Image, size: int, channels: int, what: str, part: str) -> np.ndarray:
    """An "L" or "RGB" image -> (channels, size, size) uint8, resized bicubically.

    Resizing before converting to grey matches datasets.pix2pix exactly.
    """
    if channels == 1 and img.mode == "RGB" and _is_colour(np.asarray(img)):
        raise UserError(f"{what} is a colour image but {part} is grey (1 channel): convert it to greyscale, "
                        f"or load {part} as RGB (3 channels)")
    img = img.resize((size, size), Image.Resampling.BICUBIC).convert("L" if channels == 1 else "RGB")
    return np.asarray(img).reshape(size, size, channels).transpose(2, 0, 1).copy()


def _decode_image(path: Path, size: int, channels: int, part: str) -> np.ndarray:
    """One image file -> (channels, size, size) uint8."""
    return _fit(_grey_or_rgb(open_image(path), path), size, channels, str(path), part)


def _decode_side_by_side(path: Path, size: int, channels: tuple[int, int]) -> np.ndarray:
    """One side-by-side image (A | B) -> (cA + cB, size, size) uint8, A's channels first."""
    img = _grey_or_rgb(open_image(path), path)
    width, height = img.size
    if width != 2 * height:
        raise UserError(f"{path} is {width}x{height}, not two square halves side by side "
                        "(A | B, width = 2 x height); fix or remove it")
    a = _fit(img.crop((0, 0, height, height)), size, channels[0], f"the left half (A) of {path}", "part A")
    b = _fit(img.crop((height, 0, width, height)), size, channels[1], f"the right half (B) of {path}", "part B")
    return np.concatenate([a, b])


def _load_images(files: list[Path], folder: Path, size: int, channels: int, cache_dir: Folder | None,
                 progress: bool, part: str) -> Tensor:
    """Separate image files of one folder -> (len(files), channels, size, size) uint8."""
    decode = partial(_decode_image, size=size, channels=channels, part=part)
    cache = _cache_file(cache_dir, "images", folder, f"{size}px_{channels}ch")
    return _decode_cached(files, decode, cache, progress)


def _cache_file(cache_dir: Folder | None, layout: str, folder: Path, setting: str) -> Path | None:
    """cache_dir/<layout>_<folder name>_<setting>_<hash of the absolute folder path>.pt"""
    if cache_dir is None:
        return None
    folder = folder.resolve()
    digest = hashlib.sha1(f"{layout}|{folder}|{setting}".encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{layout}_{folder.name}_{setting}_{digest}.pt"


def _read_entries(cache: Path | None) -> dict[str, tuple[int, int, Tensor]]:
    """file name -> (file size, mtime_ns, decoded image); empty if missing, of an old version or damaged."""
    stored = load_cache(cache, keys=("version", "entries")) if cache is not None else None
    return stored["entries"] if stored is not None and stored["version"] == CACHE_VERSION else {}


def _stamp(path: Path) -> tuple[int, int]:
    """(size, mtime_ns): a file with the same stamp is taken as unchanged."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _decode_cached(files: list[Path], decode: Callable[[Path], np.ndarray], cache: Path | None,
                   progress: bool) -> Tensor:
    """torch.stack of decode(file) for each file, reusing cached results of unchanged files.

    Bad files do not stop the others; what was decoded is cached before one error
    naming the bad files is raised, so a rerun after fixing them decodes only those.
    """
    old = _read_entries(cache)
    stamps = {f.name: _stamp(f) for f in files}
    done = {name: old[name] for name, stamp in stamps.items() if name in old and old[name][:2] == stamp}
    todo = [f for f in files if f.name not in done]
    pruned = old.keys() - stamps.keys()  # deleted files
    failed: list[tuple[str, str]] = []  # (file name, message)
    decoded = 0
    try:
        for f in tqdm(todo, desc=f"decoding {files[0].parent}", disable=not progress or not todo, leave=False):
            try:
                done[f.name] = (*stamps[f.name], torch.from_numpy(decode(f)))
                decoded += 1
            except UserError as err:
                failed.append((f.name, str(err)))
    finally:  # also on Ctrl-C: keep what was decoded
        if cache is not None and (decoded or pruned):
            write_cache(cache, {"version": CACHE_VERSION, "entries": done})
    if failed:
        more = f"; also failed: {_quote([name for name, _ in failed[1:]])}" if len(failed) > 1 else ""
        raise UserError(failed[0][1] + more)
    return torch.stack([done[f.name][2] for f in files])
