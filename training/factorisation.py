"""How a joint sample splits into named parts ("marginals", paper Sec. 2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class Factorisation:
    """Named, contiguous parts of a joint sample along one axis.

    Example: a PairedMNIST sample is a flat vector of 1568 values whose first
    784 are the upper digit and last 784 the lower digit::

        Factorisation([("upper", 784), ("lower", 784)], dim=1)

    The parts must tile the axis in order, so that concatenating them gives the
    joint sample back.
    """

    def __init__(self, parts: Sequence[tuple[str, int]], dim: int = 1) -> None:
        if len(parts) < 1:
            raise ValueError("a factorisation needs at least one part")
        names = [name for name, _ in parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names must be unique, got {names}")
        if any(size <= 0 for _, size in parts):
            raise ValueError(f"part sizes must be positive, got {list(parts)}")
        self.dim = dim
        self.names: tuple[str, ...] = tuple(names)
        self.sizes: dict[str, int] = dict(parts)
        self.slices: dict[str, slice] = {}
        start = 0
        for name, size in parts:
            self.slices[name] = slice(start, start + size)
            start += size
        self.total = start

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={self.sizes[n]}" for n in self.names)
        return f"Factorisation({inner}, dim={self.dim})"

    def _check(self, x: Tensor) -> None:
        if x.shape[self.dim] != self.total:
            raise ValueError(
                f"expected {self.total} entries along dim {self.dim} for {self!r}, "
                f"got shape {tuple(x.shape)}"
            )

    def take(self, x: Tensor, parts: Sequence[str] | str) -> Tensor:
        """The named parts of x, concatenated in the given order.

        x: (B, ..., total, ...) joint sample -> (B, ..., sum of part sizes, ...)
        """
        self._check(x)
        if isinstance(parts, str):
            parts = (parts,)
        pieces = [x.narrow(self.dim, self.slices[p].start, self.sizes[p]) for p in parts]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=self.dim)

    def parts_of(self, x: Tensor, parts: Sequence[str]) -> Tensor:
        """The named parts of x, where x holds either full joint samples or
        exactly those parts already (a pool of parts observed alone).

        x: (B, ..., total or sum of the parts' sizes, ...) -> (B, ..., sum of part sizes, ...)
        """
        size = sum(self.sizes[p] for p in parts)
        if x.shape[self.dim] == self.total:
            return self.take(x, parts)
        if x.shape[self.dim] == size:
            return x
        raise ValueError(f"expected full joint samples ({self.total} entries along dim {self.dim}) or the parts "
                         f"{list(parts)} alone ({size}) for {self!r}, got shape {tuple(x.shape)}")

    def shuffle(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Break the dependencies between parts (paper Sec. 2.2).

        Keeps the first part in place and permutes every other part across the
        batch, each with its own random permutation, so that the parts of one
        output row come from independently chosen rows of x.

        x: (B, ..., total, ...) -> same shape
        """
        self._check(x)
        batch = x.shape[0]
        device = x.device
        pieces = [self.take(x, self.names[0])]
        for name in self.names[1:]:
            perm = torch.randperm(batch, generator=generator, device=device)
            pieces.append(self.take(x, name)[perm])
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=self.dim)
