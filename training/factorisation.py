"""How a joint sample splits into named parts ("marginals", paper Sec. 2),
flat or as a tree of groups (paper App. A.3: hierarchical, eq. 7, and
autoregressive, eq. 8, FactorGAN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

ROOT = "root"  # the name of the whole sample, the group of the top-level nodes


class Factorisation:
    """Named, contiguous parts of a joint sample along one axis, optionally
    grouped into a tree.

    A node is a part ``(name, size)`` or a group ``(name, [node, ...])``. The
    flat case (every node a part; depth 1) is the paper's FactorGAN: a
    PairedMNIST sample is a flat vector of 1568 values whose first 784 are the
    upper digit and last 784 the lower digit::

        Factorisation([("upper", 784), ("lower", 784)], dim=1)

    A four-digit grid stored column by column, each column a group (eq. 7)::

        Factorisation([("left", [("ul", 784), ("ll", 784)]),
                       ("right", [("ur", 784), ("lr", 784)])], dim=1)

    The parts (leaves) must tile the axis in order, so that concatenating them
    gives the joint sample back; every group is then a contiguous slice too.
    ``names``, ``sizes`` and ``slices`` are those of the parts; ``children``
    gives each group's nodes (``ROOT``: the top level), ``groups`` the groups
    below the root, parents before children. ``total`` (optional) is the
    length the parts must add up to.
    """

    def __init__(self, parts: Sequence[tuple[str, Any]], dim: int = 1, total: int | None = None) -> None:
        if len(parts) < 1:
            raise ValueError("a factorisation needs at least one part")
        self.dim = dim
        self.children: dict[str, tuple[str, ...]] = {}
        self.node_slices: dict[str, slice] = {}
        self._leaves: list[tuple[str, int]] = []
        self.children[ROOT] = ()  # filled in by _add; registered first: groups in pre-order
        self.depth = self._add(ROOT, parts, 0, 1)
        names = [name for name, _ in self._leaves]
        self.names: tuple[str, ...] = tuple(names)
        self.sizes: dict[str, int] = dict(self._leaves)
        self.slices: dict[str, slice] = {n: self.node_slices[n] for n in names}
        self.groups: tuple[str, ...] = tuple(g for g in self.children if g != ROOT)
        self.total = self.node_slices[ROOT].stop
        if total is not None and total != self.total:
            raise ValueError(f"the part sizes add up to {self.total}, not the sample's {total}: they must tile it")

    def _add(self, name: str, nodes: Sequence[tuple[str, Any]], start: int, depth: int) -> int:
        """Register group name of nodes starting at start; returns the depth below it."""
        deepest = depth
        child_names = []
        for node in nodes:
            if not (isinstance(node, tuple | list) and len(node) == 2 and isinstance(node[0], str)):
                raise ValueError(f"a node is (name, size) or (name, [nodes]), got {node!r}")
            child, spec = node
            if not child or child in self.node_slices or child == ROOT or child == name:
                why = "empty" if not child else f"reserved ({ROOT!r})" if child == ROOT else "used twice"
                raise ValueError(f"node names must be unique and non-empty, {child!r} is {why}")
            if isinstance(spec, bool | str) or not isinstance(spec, int | Sequence):
                raise ValueError(f"node {child!r}: a size (int) or a list of nodes, got {spec!r}")  # noqa: TRY004 (a bad tree is one ValueError)
            if isinstance(spec, int):
                if spec <= 0:
                    raise ValueError(f"part sizes must be positive, got {child!r} of size {spec}")
                self.node_slices[child] = slice(start, start + spec)
                self._leaves.append((child, spec))
            else:
                if len(spec) < 2:
                    raise ValueError(f"group {child!r} needs at least two nodes, got {len(spec)}")
                self.node_slices[child] = slice(start, start)  # reserved before its nodes (no self-nesting)
                self.children[child] = ()  # its place in the pre-order, filled in by _add
                deepest = max(deepest, self._add(child, spec, start, depth + 1))
            start = self.node_slices[child].stop
            child_names.append(child)
        self.children[name] = tuple(child_names)
        self.node_slices[name] = slice(self.node_slices[child_names[0]].start, start)
        return deepest

    @classmethod
    def autoregressive(cls, parts: Sequence[tuple[str, int]], dim: int = 1,
                       total: int | None = None) -> Factorisation:
        """Parts in a sequence (paper eq. 8) as the left-nested tree
        (((x_1, x_2), x_3), ..., x_K): group ``x_1_to_x_t`` is the prefix 1..t,
        so that its dependency pair relates parts 1..t-1 (one block) to part t."""
        if len(parts) < 1:
            raise ValueError("a factorisation needs at least one part")
        nodes: list[tuple[str, Any]] = [parts[0]]
        for t in range(1, len(parts) - 1):
            nodes = [(f"{parts[0][0]}_to_{parts[t][0]}", [*nodes, parts[t]])]
        return cls([*nodes, *parts[len(parts) - 1:]] if len(parts) > 1 else nodes, dim, total)

    def __repr__(self) -> str:
        def show(name: str) -> str:
            if name in self.sizes:
                return f"{name}={self.sizes[name]}"
            return f"{name}[{', '.join(show(c) for c in self.children[name])}]"
        return f"Factorisation({', '.join(show(c) for c in self.children[ROOT])}, dim={self.dim})"

    def size(self, node: str) -> int:
        """How many entries node (a part, a group or ROOT) has along dim."""
        s = self.node_slices[node]
        return s.stop - s.start

    def leaves_of(self, node: str) -> tuple[str, ...]:
        """The parts of node in storage order (a part: itself)."""
        if node in self.sizes:
            return (node,)
        return tuple(leaf for child in self.children[node] for leaf in self.leaves_of(child))

    def _check(self, x: Tensor) -> None:
        if x.shape[self.dim] != self.total:
            raise ValueError(
                f"expected {self.total} entries along dim {self.dim} for {self!r}, "
                f"got shape {tuple(x.shape)}"
            )

    def take(self, x: Tensor, parts: Sequence[str] | str) -> Tensor:
        """The named nodes (parts or groups) of x, concatenated in the given order.

        x: (B, ..., total, ...) joint sample -> (B, ..., sum of node sizes, ...)
        """
        self._check(x)
        if isinstance(parts, str):
            parts = (parts,)
        pieces = [x.narrow(self.dim, self.node_slices[p].start, self.size(p)) for p in parts]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=self.dim)

    def parts_of(self, x: Tensor, parts: Sequence[str]) -> Tensor:
        """The named nodes of x, where x holds either full joint samples or
        exactly those nodes already (a pool of parts observed alone).

        x: (B, ..., total or sum of the nodes' sizes, ...) -> (B, ..., sum of node sizes, ...)
        """
        size = sum(self.size(p) for p in parts)
        if x.shape[self.dim] == self.total:
            return self.take(x, parts)
        if x.shape[self.dim] == size:
            return x
        raise ValueError(f"expected full joint samples ({self.total} entries along dim {self.dim}) or the parts "
                         f"{list(parts)} alone ({size}) for {self!r}, got shape {tuple(x.shape)}")

    def within(self, x: Tensor, holder: str, nodes: Sequence[str]) -> Tensor:
        """The named nodes of x, which holds exactly node holder's entries
        (e.g. a group observed alone); every node must lie inside holder.

        x: (B, ..., size(holder), ...) -> (B, ..., sum of node sizes, ...)
        """
        outer = self.node_slices[holder]
        if x.shape[self.dim] != self.size(holder):
            raise ValueError(f"expected {holder!r}'s {self.size(holder)} entries along dim {self.dim}, "
                             f"got shape {tuple(x.shape)}")
        pieces = []
        for node in nodes:
            inner = self.node_slices[node]
            if not outer.start <= inner.start <= inner.stop <= outer.stop:
                raise ValueError(f"{node!r} is not part of {holder!r}")
            pieces.append(x.narrow(self.dim, inner.start - outer.start, self.size(node)))
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=self.dim)

    def shuffle(self, x: Tensor, generator: torch.Generator | None = None, group: str = ROOT) -> Tensor:
        """Break the dependencies between a group's nodes (paper Sec. 2.2;
        App. A.3 for the groups of a tree).

        Keeps the group's first node in place and permutes every other node
        across the batch as one block, each with its own random permutation,
        so that the nodes of one output row come from independently chosen
        rows of x, while the inside of every node (a sub-group) stays intact.

        x: (B, ..., total or size(group), ...) -> (B, ..., size(group), ...)
        """
        if x.shape[self.dim] != self.size(group):
            x = self.take(x, group)
        batch = x.shape[0]
        device = x.device
        first, *rest = self.children[group]
        pieces = [self.within(x, group, (first,))]
        for name in rest:
            perm = torch.randperm(batch, generator=generator, device=device)
            pieces.append(self.within(x, group, (name,))[perm])
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=self.dim)
