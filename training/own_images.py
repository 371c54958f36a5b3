"""A user's own images for the two-part image experiments (ImagePairs, Image2Image).

``--pairs`` (one folder of side-by-side A | B images, or two folders matched by
name) replaces the pix2pix data set; ``--part_a`` / ``--part_b`` add images of
one part seen alone, in any number; ``--val_pairs`` gives pairs to evaluate on.
The folder layouts are described in ``datasets/image_folders.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass

import torch
from torch import Tensor

from common.errors import UserError
from datasets.image_folders import all_grey, load_pairs, load_part
from training.data import TensorPool
from training.options import cache_dir, paired_count


def add_folder_options(g: argparse._ArgumentGroup, a: str, b: str) -> None:
    """The own-data options; a and b say what the two parts are (help texts)."""
    g.add_argument("--pairs", nargs="+", metavar="DIR", default=None,
                   help=f"your own complete pairs instead of --dataset: one folder of side-by-side {a} | {b} "
                        f"images, or two folders ({a}, {b}) matched by file name")
    g.add_argument("--part_a", metavar="DIR", default=None, help=f"with --pairs: a folder of {a} images seen alone")
    g.add_argument("--part_b", metavar="DIR", default=None, help=f"with --pairs: a folder of {b} images seen alone")
    g.add_argument("--val_pairs", nargs="+", metavar="DIR", default=None,
                   help="with --pairs: validation pairs (same layouts as --pairs) for the metrics")
    g.add_argument("--channels", nargs=2, type=int, default=[3, 3], metavar=("CA", "CB"),
                   help=f"with --pairs: channels of {a} and {b}, 1 (grey) or 3 (RGB)")


@dataclass
class OwnImages:
    """Training images from folders. pairs: (N, cA + cB, S, S) uint8, the first
    n_paired used as pairs; a_alone (M, cA, S, S) and b_alone (K, cB, S, S):
    parts seen alone (M, K may be 0)."""

    pairs: Tensor
    names: list[str]
    n_paired: int
    a_alone: Tensor
    b_alone: Tensor

    def parts(self, channels_a: int) -> tuple[Tensor, Tensor]:
        """Every observed A and every observed B: the pairs' parts and the parts seen alone."""
        return (torch.cat([self.pairs[:, :channels_a], self.a_alone]),
                torch.cat([self.pairs[:, channels_a:], self.b_alone]))

    def part_pools(self, names: tuple[str, str], channels_a: int) -> dict[str, TensorPool]:
        """One pool per part name, for the marginal discriminators (assign_pools)."""
        return dict(zip(names, (TensorPool(x) for x in self.parts(channels_a)), strict=True))

    def split(self, opts: argparse.Namespace) -> dict:
        """What split.json records: the folders, counts and which pairs are paired."""
        return {"pairs": opts.pairs, "part_a": opts.part_a, "part_b": opts.part_b,
                "num_joint_samples": self.n_paired, "train_pairs": len(self.names),
                "paired_files": self.names[: self.n_paired], "a_alone": len(self.a_alone),
                "b_alone": len(self.b_alone)}


def check_folder_options(opts: argparse.Namespace) -> None:
    """Folder options without --pairs are a mistake, not something to ignore."""
    if opts.pairs is None:
        given = [f"--{k}" for k in ("part_a", "part_b", "val_pairs") if getattr(opts, k) is not None]
        if given:
            raise UserError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --pairs (your own complete pairs); "
                            "without --pairs the --dataset is used")
    elif len(opts.pairs) > 2 or (opts.val_pairs is not None and len(opts.val_pairs) > 2):
        raise UserError("--pairs and --val_pairs take one folder (side by side) or two folders (A, B)")


def load_own_images(opts: argparse.Namespace, device: torch.device) -> OwnImages:
    """The --pairs / --part_a / --part_b images at --loadSize, on device."""
    size, channels, cache = opts.loadSize, tuple(opts.channels), cache_dir(opts)
    progress = not opts.no_progress
    pairs, names = load_pairs(opts.pairs, size, channels, cache, progress)
    n_paired = paired_count(opts, "num_joint_samples", len(pairs), "pairs in --pairs")
    alone = [load_part(folder, size, c, cache, progress, part=p)[0] if folder else torch.zeros(0, c, size, size,
                                                                                              dtype=torch.uint8)
             for folder, c, p in ((opts.part_a, channels[0], "A"), (opts.part_b, channels[1], "B"))]
    own = OwnImages(pairs.to(device), names, n_paired, alone[0].to(device), alone[1].to(device))
    note_grey_parts(own.parts(channels[0]), channels)
    return own


def note_grey_parts(parts: tuple[Tensor, Tensor], channels: tuple[int, int]) -> None:
    """One line when a part read as RGB (--channels 3) holds only grey images:
    it is learnt as three equal channels, where --channels 1 for it learns one.
    parts: every A (N, cA, S, S) and every B (M, cB, S, S), uint8."""
    grey = [c == 3 and len(x) > 0 and all_grey(x) for x, c in zip(parts, channels, strict=True)]
    if any(grey):
        which, them = ("parts A and B", "them") if all(grey) else (f"part {'A' if grey[0] else 'B'}", "it")
        fix = " ".join("1" if g else str(c) for g, c in zip(grey, channels, strict=True))
        print(f"note: {which} {'hold' if all(grey) else 'holds'} only grey images, but --channels {channels[0]} "
              f"{channels[1]} reads {them} as RGB (R = G = B); --channels {fix} trains {them} as grey", file=sys.stderr)


def val_set_name(opts: argparse.Namespace, dataset: str) -> str:
    """A name for the validation set, for caches of its features: the data
    set's, or one derived from the --val_pairs folders."""
    if opts.pairs is None:
        return dataset
    return "own_" + hashlib.sha1(str(opts.val_pairs).encode()).hexdigest()[:10]


def load_own_val(opts: argparse.Namespace) -> Tensor | None:
    """--val_pairs at --loadSize (uint8, on the CPU), or None without it."""
    if opts.val_pairs is None:
        return None
    return load_pairs(opts.val_pairs, opts.loadSize, tuple(opts.channels), cache_dir(opts), not opts.no_progress)[0]
