"""E factorised discriminators run as one (training/ensemble.py).

``StackedDiscriminator`` holds, for every sub-discriminator of E
``FactorisedDiscriminator`` members (marginals, D_P, D_Q), one stacked network
(models/stacked.py). Its tensors carry a leading member axis: joint samples
(E, B, D), logits and per-member losses (E, B) and (E,). Each member draws its
shuffles from its own generator, in the order FactorisedDiscriminator.losses
draws them (D_P's, then D_Q's), so member e sees exactly its single run's
batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.stacked import stack_modules
from training.discriminator import P_DEP, Q_DEP, FactorisedDiscriminator, loss_dtype
from training.factorisation import Factorisation
from training.stacked_dependency import draw_perms, paired_logits, pairs_shortcut


@dataclass
class StackedLoss:
    """Each member's loss and accuracy for one sub-discriminator."""

    loss: Tensor  # (E,) BCE(real -> 1) + BCE(fake -> 0), member by member
    accuracy: Tensor  # (E,) fraction of real and fake inputs classified correctly


def stacked_bce(disc: nn.Module, real: Tensor, fake: Tensor) -> StackedLoss:
    """training.discriminator.bce_real_fake for every member at once.

    real: (E, B, ...) and fake: (E, B', ...); disc returns (E, B + B') logits,
    in the loss's dtype (training.discriminator.loss_dtype), as in the single run.
    """
    return bce_of_logits(disc(torch.cat([real, fake], dim=1)), real.shape[1])


def bce_of_logits(logits: Tensor, real_rows: int) -> StackedLoss:
    """Per-member BCE and accuracy of logits (E, B + B'), the first real_rows real."""
    logits = loss_dtype(logits)
    real_logit, fake_logit = logits[:, :real_rows], logits[:, real_rows:]
    loss = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit), reduction="none").mean(1)
            + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit), reduction="none").mean(1))
    correct = torch.cat([real_logit > 0, fake_logit < 0], dim=1).float().mean(1)
    return StackedLoss(loss, correct.detach())


def member_generator_losses(logit: Tensor, objective: str) -> Tensor:
    """training.discriminator.generator_loss per member: logit (E, B) -> (E,)."""
    if objective == "JSD":
        return F.softplus(-logit).mean(1)
    if objective == "KL":
        return -logit.mean(1)
    raise ValueError(f"unknown objective {objective!r}")


def stacked_shuffle(f: Factorisation, x: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
    """Factorisation.shuffle for every member: x (E, B, ...) -> same shape.

    f is a member's factorisation (parts along its dim, one axis after the
    member axis here); member e's permutations come from generators[e], one
    per part after the first, in part order, as the single run draws them.
    """
    members, batch, dim = x.shape[0], x.shape[1], f.dim + 1
    rows = torch.arange(members, device=x.device).unsqueeze(1)
    pieces = [x.narrow(dim, f.slices[f.names[0]].start, f.sizes[f.names[0]])]
    perms = [[torch.randperm(batch, generator=g, device=x.device) for _ in f.names[1:]] for g in generators]
    for i, name in enumerate(f.names[1:]):
        part = x.narrow(dim, f.slices[name].start, f.sizes[name])
        perm = torch.stack([p[i] for p in perms])  # (E, B)
        pieces.append(part[rows, perm])
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=dim)


class StackedDiscriminator(nn.Module):
    """E FactorisedDiscriminators of the same structure, as one module whose
    parameter names are a member's (each tensor with the member axis first).

    members: the single-run discriminators (plain FactorisedDiscriminator:
    GAN, FactorGAN, FactorGAN-no-cp; not a baseline's own kind).
    """

    def __init__(self, members: Sequence[FactorisedDiscriminator]) -> None:
        super().__init__()
        first = members[0]
        if any(type(m) is not FactorisedDiscriminator for m in members):
            raise TypeError("ensembles stack FactorisedDiscriminators only (GAN, FactorGAN, FactorGAN-no-cp), "
                            f"got {sorted({type(m).__name__ for m in members})}")
        if any(m.factorisation.groups for m in members):
            raise ValueError("ensembles stack flat factorisations only; train a factorisation tree "
                             "(hierarchical, autoregressive) one run at a time with --seed")
        for m in members[1:]:
            same = (m.parts == first.parts and m.factorisation.names == first.factorisation.names
                    and m.factorisation.sizes == first.factorisation.sizes and m.factorisation.dim == first.factorisation.dim
                    and (m.dep_p is None) == (first.dep_p is None) and (m.dep_q is None) == (first.dep_q is None))
            if not same:
                raise ValueError("ensemble members' discriminators differ in structure")
        self.factorisation, self.parts = first.factorisation, dict(first.parts)
        self.marginals = nn.ModuleDict({n: stack_modules([m.marginals[n] for m in members]) for n in first.marginals})
        self.dep_p = stack_modules([m.dep_p for m in members]) if first.dep_p is not None else None
        self.dep_q = stack_modules([m.dep_q for m in members]) if first.dep_q is not None else None

    def _take(self, x: Tensor, parts: Sequence[str]) -> Tensor:
        """The named parts of stacked joint samples x (E, B, ...) or x itself if it holds only them."""
        f, dim = self.factorisation, self.factorisation.dim + 1
        if x.shape[dim] == sum(f.sizes[p] for p in parts) and x.shape[dim] != f.total:
            return x
        pieces = [x.narrow(dim, f.slices[p].start, f.sizes[p]) for p in parts]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=dim)

    def losses(self, real: Mapping[str, Tensor], fake: Tensor,
               generators: Sequence[torch.Generator]) -> dict[str, StackedLoss]:
        """Every sub-discriminator's per-member losses for one discriminator round.

        real: name -> (E, B, ...) real batches (as FactorisedDiscriminator.losses);
        fake: (E, B, ...) generated joint samples shared by every sub-discriminator;
        generators: one per member, for the D_P and D_Q shuffles.
        """
        out: dict[str, StackedLoss] = {}
        for name, disc in self.marginals.items():
            seen = self.parts[name]
            out[name] = stacked_bce(disc, self._take(real[name], seen), self._take(fake, seen))
        # the single run draws D_P's shuffle, then D_Q's, from each member's generator
        pairs = [(P_DEP, self.dep_p, real.get(P_DEP)), (Q_DEP, self.dep_q, fake)]
        pairs = [(name, disc, x) for name, disc, x in pairs if disc is not None]
        f = self.factorisation
        drawn = [draw_perms(f, x.shape[1], generators, x.device) if pairs_shortcut(disc, f)
                 else stacked_shuffle(f, x, generators) for _, disc, x in pairs]
        for (name, disc, x), perms_or_shuffled in zip(pairs, drawn, strict=True):
            if pairs_shortcut(disc, f):  # the first layer once per row (training/stacked_dependency.py)
                out[name] = bce_of_logits(paired_logits(disc, f, x, perms_or_shuffled), x.shape[1])
            else:
                out[name] = stacked_bce(disc, x, perms_or_shuffled)
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Each member's combined logit sum_i D_i(x_i) + D_P(x) - D_Q(x): x (E, B, ...) -> (E, B), float32 (float64 in float64 runs)."""
        logit = sum(loss_dtype(disc(self._take(x, self.parts[name]))) for name, disc in self.marginals.items())
        if self.dep_p is not None:
            logit = logit + loss_dtype(self.dep_p(x))
        if self.dep_q is not None:
            logit = logit - loss_dtype(self.dep_q(x))
        return logit
