"""Where training batches come from: tensors held on the training device.

No DataLoader and no worker processes: every data set used here fits in
memory, so a batch is one random index draw and one gather.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch
from torch import Tensor

from common.tensors import as_float
from training.factorisation import ROOT, Factorisation


class Pool(Protocol):
    """Anything that draws batches of real data: sample(B, rng) -> (B, ...) float.

    A pool that keeps state between draws (a shuffled pass in progress) also
    has state_dict() and load_state_dict(state); checkpoints save that state.
    """

    def __len__(self) -> int: ...
    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor: ...


class TensorPool:
    """A set of samples stored as one tensor, drawn from uniformly at random.

    data: (N, ...) samples; uint8 data is stored as is (4x less memory) and
    converted to float in [0, 1] per batch.
    """

    def __init__(self, data: Tensor) -> None:
        if data.shape[0] < 1:
            raise ValueError("a data pool needs at least one sample")
        self.data = data

    def __len__(self) -> int:
        return self.data.shape[0]

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """(batch_size, ...) float samples, drawn with replacement, so that a
        pool smaller than a batch still gives full batches."""
        idx = torch.randint(len(self), (batch_size,), generator=generator, device=self.data.device)
        return as_float(self.data.index_select(0, idx))


class ObservedParts(Protocol):
    """What tree_pools needs of a discriminator (a FactorisedDiscriminator)."""

    factorisation: Factorisation

    def real_parts(self) -> dict[str, tuple[str, ...]]: ...


def tree_pools(discriminator: ObservedParts, complete: Tensor | None,
               alone: Mapping[str, Tensor]) -> dict[str, TensorPool]:
    """Real data at every level of a factorisation tree (paper App. A.3).

    complete: (N, ..., total, ...) fully observed samples (or None);
    alone: node name (a group or a part) -> (N_node, ..., size of node, ...)
    observations of that node alone, disjoint from the others. Each
    sub-discriminator draws from every observation that holds all of its
    parts, restricted to them: a part's marginal from complete samples, the
    groups above it observed alone and the part alone; a group's D_P^g from
    complete samples and the groups containing it (itself included); the
    root's D_P (and a GAN's joint discriminator) from complete samples only.
    Each returned pool is one tensor: a copy of those observations' entries.
    """
    f = discriminator.factorisation
    unknown = sorted((set(alone) - set(f.node_slices)) | ({ROOT} & set(alone)))
    if unknown:
        raise ValueError(f"no node called {unknown[0]!r} below the root of {f!r} (complete samples: complete=)")
    observed = {ROOT: complete} if complete is not None else {}
    observed.update((n, alone[n]) for n in (*f.groups, *f.names) if n in alone)
    pools = {}
    for name, parts in discriminator.real_parts().items():
        pieces = [f.within(x, node, parts) for node, x in observed.items()
                  if set(parts) <= set(f.leaves_of(node)) and x.shape[0] > 0]
        if not pieces:
            raise ValueError(f"{name!r} needs the parts {list(parts)} observed together; "
                             "no complete samples or observed group holds them")
        pools[name] = TensorPool(pieces[0] if len(pieces) == 1 else torch.cat(pieces))
    return pools


class SnippetPool:
    """Fixed-length windows of long sequences, e.g. spectrogram snippets.

    data: (C, F, T) the songs' frames concatenated along the last axis;
    starts: (N,) first frame of every allowed window; draws (B, C, F, length).
    """

    def __init__(self, data: Tensor, starts: Tensor, length: int) -> None:
        if starts.numel() < 1:
            raise ValueError("a snippet pool needs at least one window")
        self.data, self.starts, self.length = data, starts.to(data.device), length
        self._offsets = torch.arange(length, device=data.device)

    def __len__(self) -> int:
        return self.starts.numel()

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        pick = torch.randint(len(self), (batch_size,), generator=generator, device=self.data.device)
        frames = (self.starts[pick, None] + self._offsets).reshape(-1)  # (B * length,)
        windows = self.data.index_select(-1, frames).float()  # (C, F, B * length)
        c, f = windows.shape[:2]
        return windows.view(c, f, batch_size, self.length).permute(2, 0, 1, 3).contiguous()


class NoiseInput:
    """Generator input for unconditional generation: z ~ U(-1, 1)^nz."""

    def __init__(self, nz: int) -> None:
        self.nz = nz

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        """-> (z,) with z: (batch_size, nz)."""
        z = torch.rand(batch_size, self.nz, generator=generator, device=generator.device)
        return (z.mul_(2.0).sub_(1.0),)


class ConditionalInput:
    """Generator input for prediction tasks: (cond, z), cond drawn from a pool
    of inputs (e.g. photos), z ~ U(-1, 1)^nz."""

    def __init__(self, pool: Pool, nz: int) -> None:
        self.pool, self.noise = pool, NoiseInput(nz)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        """-> (cond, z) with cond: (batch_size, ...) float, z: (batch_size, nz)."""
        return (self.pool.sample(batch_size, generator), *self.noise.sample(batch_size, generator))


class UnpairedInput:
    """Generator input for CycleGAN: (a, b, z) with a and b drawn independently
    from their own pools (no pairs), z ~ U(-1, 1)^nz."""

    def __init__(self, pool_a: Pool, pool_b: Pool, nz: int) -> None:
        self.pool_a, self.pool_b, self.noise = pool_a, pool_b, NoiseInput(nz)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return (self.pool_a.sample(batch_size, generator), self.pool_b.sample(batch_size, generator),
                *self.noise.sample(batch_size, generator))
