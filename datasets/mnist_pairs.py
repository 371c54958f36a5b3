"""Paired MNIST (paper Sec. 4.1): two MNIST digits stacked vertically.

The upper digit of pair i is image i. With probability ``same_digit_prob``
(lambda) the lower digit has the same class; otherwise it has a different class,
drawn in proportion to the class frequencies. The lower image is a uniformly
random image of that class.

Two pairings (``--pairing``):

* ``fixed`` (the paper's text): pairs are drawn once, from a seeded generator,
  for all 60000 images; the paired set is the first N of them.
* ``reference`` (what the original code did, and so what produced the paper's
  numbers): ``RedrawnPairs``. A set of N images is read in shuffled passes
  without replacement, the last batch of a pass short; before every pass each
  image gets a new lower digit drawn from within the same N images, and the
  "other" class is drawn from all class frequencies (it can be the same class).
"""

from __future__ import annotations

import math
import struct
import urllib.error
from pathlib import Path

import torch
from torch import Tensor

from common.digit_pairs import DIGIT_PIXELS
from common.errors import UserError
from common.tensors import as_float


def load_mnist(root: str | Path, train: bool) -> tuple[Tensor, Tensor]:
    """MNIST from torchvision's layout under root (downloaded if missing and online).

    Returns images (N, 28, 28) uint8 and labels (N,) int64.
    """
    from torchvision.datasets import MNIST

    raw = Path(root) / "MNIST" / "raw"
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        check_idx(raw / f"{'train' if train else 't10k'}-{kind}", root)
    try:
        ds = MNIST(str(root), train=train, download=True)
    except (RuntimeError, OSError, urllib.error.URLError, EOFError) as err:
        archives = sorted(p.name for p in raw.glob("*.gz"))
        if archives:  # torchvision unpacks intact archives offline, so one of them is damaged or missing
            raise UserError(f"MNIST under {raw} lacks IDX files, and unpacking or downloading the archives there "
                            f"({', '.join(archives)}) failed ({type(err).__name__}; a damaged archive?): delete them "
                            f"and run `python -m datasets.download mnist --data_root {root}`, or copy them again") from None
        raise UserError(
            f"MNIST not found under {raw} and could not be downloaded "
            f"({type(err).__name__}): put the four MNIST IDX files (train-images-idx3-ubyte, ...) "
            "there or point --data_root at a folder that has MNIST/raw/"
        ) from None
    if len(ds.data) != len(ds.targets):
        raise UserError(f"MNIST under {raw} has {len(ds.data)} images but {len(ds.targets)} labels: the "
                        f"{'train' if train else 't10k'} files do not belong together; download or copy them again "
                        f"(python -m datasets.download mnist --data_root {root})")
    return ds.data, ds.targets.long()


def check_idx(path: Path, root: str | Path) -> None:
    """An IDX file that is there must be as long as its header says: else an
    error naming it (torchvision's own error reads as if MNIST were missing)."""
    if not path.is_file():
        return
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        ndim = head[3] if len(head) == 4 and head[:3] == b"\0\0\x08" else 0  # 0x08: unsigned bytes
        dims = f.read(4 * ndim)
    expected = 4 + 4 * ndim + math.prod(struct.unpack(f">{ndim}I", dims)) if ndim and len(dims) == 4 * ndim else -1
    if size != expected:
        found = f"{size} bytes, its header says {expected}" if expected > 0 else "no IDX header of unsigned bytes"
        raise UserError(f"MNIST file {path} is truncated or corrupt ({found}): delete it and run "
                        f"`python -m datasets.download mnist --data_root {root}`, or copy it again")


def draw_lower_indices(labels: Tensor, same_digit_prob: float, generator: torch.Generator,
                       other_can_be_same: bool = False) -> Tensor:
    """For every upper digit i, the index of its lower digit, on labels' device.

    labels: (N,) classes -> (N,) int64 indices into the same set. The "other"
    class is drawn from the class frequencies of the set, excluding the upper
    digit's class unless other_can_be_same (the reference code's draw).
    """
    return draw_linked_indices(labels, labels, same_digit_prob, generator, other_can_be_same)


def draw_linked_indices(labels: Tensor, target: Tensor, prob: float, generator: torch.Generator,
                        other_can_be_same: bool = False) -> Tensor:
    """For every i, the index of a uniformly random image of class target[i]
    with probability prob, else of another class drawn from the class
    frequencies of the set (excluding target[i] unless other_can_be_same).

    labels: (N,) classes of the set, target: (N,) classes -> (N,) int64 indices
    into the set. draw_lower_indices is target = labels (the pairs' rule).
    """
    n, device = labels.shape[0], labels.device
    counts = torch.bincount(labels, minlength=10)
    same = torch.rand(n, generator=generator, device=device) < prob
    if other_can_be_same:
        other = torch.multinomial(counts.double(), n, replacement=True, generator=generator)
    else:
        other_probs = (counts.double() / n).expand(n, 10).clone()
        other_probs[torch.arange(n, device=device), target] = 0.0
        other = torch.multinomial(other_probs, 1, generator=generator).squeeze(1)
    lower_class = torch.where(same, target, other)
    # a uniformly random image of lower_class: images grouped by class, then an offset
    order = torch.argsort(labels, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    offset = (torch.rand(n, generator=generator, dtype=torch.float64, device=device) * counts[lower_class]).long()
    return order[starts[lower_class] + offset]


def make_pairs(images: Tensor, lower: Tensor) -> Tensor:
    """images (N, 28, 28), lower (N,) -> (N, 1568) joint samples, upper digit first."""
    flat = images.reshape(images.shape[0], DIGIT_PIXELS)
    return torch.cat([flat, flat[lower]], dim=1)


class RedrawnPairs:
    """Digit pairs as the reference code drew them (``--pairing reference``).

    images: (N, 28, 28) uint8 and labels: (N,) of the set (e.g. the first N
    training images). Batches come from shuffled passes over the N upper
    digits without replacement; the last batch of a pass is short (N mod B),
    and a set smaller than a batch gives batches of N. Before every pass, each
    upper digit gets a new lower digit from within the set (other class drawn
    from all class frequencies). The pass (order, lower digits, position) is
    in ``state_dict`` so that a resumed run continues bit-exactly.
    """

    def __init__(self, images: Tensor, labels: Tensor, same_digit_prob: float) -> None:
        if images.shape[0] < 1:
            raise ValueError("a pool of digit pairs needs at least one image")
        self.digits = images.reshape(images.shape[0], DIGIT_PIXELS)
        self.labels, self.same_digit_prob = labels.to(images.device), same_digit_prob
        n = images.shape[0]
        self.order = torch.empty(n, dtype=torch.long, device=images.device)
        self.lower = torch.empty(n, dtype=torch.long, device=images.device)
        self.position = n  # the first sample() starts a pass

    def __len__(self) -> int:
        return self.digits.shape[0]

    def _new_pass(self, generator: torch.Generator) -> None:
        self.order = torch.randperm(len(self), generator=generator, device=self.digits.device)
        self.lower = draw_lower_indices(self.labels, self.same_digit_prob, generator, other_can_be_same=True)
        self.position = 0

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """(min(batch_size, left in this pass), 1568) float pairs in [0, 1]."""
        if self.position >= len(self):
            self._new_pass(generator)
        idx = self.order[self.position:self.position + batch_size]
        self.position += idx.shape[0]
        # one gather of rows upper, lower, upper, lower, ... read as (B, 1568): 26 us per batch of 25, two
        # gathers and a cat took 45
        rows = torch.stack((idx, self.lower[idx]), dim=1).view(-1)
        return as_float(self.digits.index_select(0, rows).view(idx.shape[0], 2 * DIGIT_PIXELS))

    def state_dict(self) -> dict[str, Tensor | int]:
        return {"order": self.order, "lower": self.lower, "position": self.position}

    def load_state_dict(self, state: dict[str, Tensor | int]) -> None:
        if state["order"].shape[0] != len(self):
            raise ValueError(f"pool state for {state['order'].shape[0]} samples, this pool has {len(self)}")
        self.order = state["order"].to(self.digits.device)
        self.lower = state["lower"].to(self.digits.device)
        self.position = int(state["position"])
