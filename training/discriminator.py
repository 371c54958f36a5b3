"""The factorised discriminator (paper Sec. 2, Eq. 3 and App. A.4).

A FactorisedDiscriminator owns every sub-discriminator of one GAN:

* marginal discriminators, each judging some parts of a joint sample
  (real parts come from the large unpaired pool);
* an optional p-dependency discriminator D_P: real paired joint samples vs the
  same batch with its parts shuffled across the batch;
* an optional q-dependency discriminator D_Q: generated joint samples vs the
  same batch shuffled.

For the generator it exposes one combined logit,
``sum_i D_i(x_i) + D_P(x) - D_Q(x)``, the pre-sigmoid estimate of
log p(x)/q(x). A plain GAN is the degenerate case with one "marginal"
discriminator over all parts and no dependency pair.

For a factorisation tree (App. A.3) every group g below the root has its own
pair D_P^g / D_Q^g on the group's entries (sub-discriminators "p_dep/g",
"q_dep/g"), and the combined logit adds D_P^g(x_g) - D_Q^g(x_g) for each:
eq. 7 (hierarchical) and eq. 8 (autoregressive, the left-nested tree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.factorisation import Factorisation
from training.models_registry import MODELS

P_DEP = "p_dep"
Q_DEP = "q_dep"


def group_name(kind: str, group: str) -> str:
    """The sub-discriminator name of a group's pair: kind P_DEP or Q_DEP, e.g. "p_dep/left"."""
    return f"{kind}/{group}"


def is_p_dep(name: str) -> bool:
    """Whether the sub-discriminator name is a p-dependency one (root or group): it needs no fake batch."""
    return name == P_DEP or name.startswith(P_DEP + "/")


@dataclass
class SubLoss:
    """One sub-discriminator's loss and accuracy on a real and a fake batch."""

    loss: Tensor  # scalar, BCE(real -> 1) + BCE(fake -> 0)
    accuracy: Tensor  # scalar, fraction of real and fake inputs classified correctly


def loss_dtype(x: Tensor) -> Tensor:
    """x for a loss: float32 (under autocast, --amp, logits may be bf16/fp16),
    float64 kept as is (float64 runs: the ensemble exactness tests)."""
    return x if x.dtype == torch.float64 else x.float()


def bce_real_fake(disc: nn.Module, real: Tensor, fake: Tensor, separate: bool = False) -> SubLoss:
    """Standard GAN discriminator loss; real and fake go through one forward,
    or with separate=True through two (real first, as the original code: a
    spectrally normalised disc then runs two power iterations, and the fake
    forward sees the estimate after the second; the gradient is still that
    of the one summed loss).

    real: (B, ...) and fake: (B', ...) inputs of disc, which returns (B,) logits.
    The loss is computed in float32, also under autocast (--amp).
    """
    if separate:
        real_logit, fake_logit = loss_dtype(disc(real)), loss_dtype(disc(fake))
    else:
        logits = loss_dtype(disc(torch.cat([real, fake], dim=0)))
        real_logit, fake_logit = logits[: real.shape[0]], logits[real.shape[0]:]
    loss = F.binary_cross_entropy_with_logits(
        real_logit, torch.ones_like(real_logit)
    ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    correct = torch.cat([real_logit > 0, fake_logit < 0]).float().mean()
    return SubLoss(loss, correct.detach())


def generator_loss(logit: Tensor, objective: str) -> Tensor:
    """logit: (B,) combined logits of generated samples -> scalar loss."""
    if objective == "JSD":  # non-saturating: -log sigmoid(logit)
        return F.softplus(-logit).mean()
    if objective == "KL":  # logit estimates log p/q
        return -logit.mean()
    raise ValueError(f"unknown objective {objective!r}")



class FactorisedDiscriminator(nn.Module):
    """Marginal discriminators plus an optional p/q-dependency pair.

    Args:
        factorisation: how a joint sample splits into parts.
        marginals: name -> discriminator. Each takes the parts listed in
            ``parts[name]`` (default: the part called ``name``) and returns
            (B,) logits.
        parts: which parts each marginal discriminator sees.
        dep_p: p-dependency discriminator on the full joint sample, or None
            to assume the real parts are independent (FactorGAN-no-cp).
        dep_q: q-dependency discriminator on the full joint sample, or None.
        group_deps: for a factorisation tree, group name -> (D_P^g, D_Q^g)
            on that group's entries (either may be None), one for every group
            below the root (``factorisation.groups``).
    """

    def __init__(
        self,
        factorisation: Factorisation,
        marginals: Mapping[str, nn.Module],
        parts: Mapping[str, Sequence[str]] | None = None,
        dep_p: nn.Module | None = None,
        dep_q: nn.Module | None = None,
        group_deps: Mapping[str, tuple[nn.Module | None, nn.Module | None]] | None = None,
    ) -> None:
        super().__init__()
        if not marginals:
            raise ValueError("at least one marginal (or joint) discriminator is needed")
        if any(n in (P_DEP, Q_DEP) or n.startswith((P_DEP + "/", Q_DEP + "/")) for n in marginals):
            raise ValueError(f"{P_DEP!r} and {Q_DEP!r} are reserved names")
        group_deps = dict(group_deps or {})
        if set(group_deps) != set(factorisation.groups):
            raise ValueError(f"group_deps must name every group of {factorisation!r} below the root "
                             f"({list(factorisation.groups)}), got {sorted(group_deps)}")
        self.factorisation = factorisation
        self.marginals = nn.ModuleDict(dict(marginals))
        parts = dict(parts or {})
        self.parts: dict[str, tuple[str, ...]] = {}
        for name in marginals:
            seen = tuple(parts.get(name, (name,)))
            unknown = [p for p in seen if p not in factorisation.names]
            if unknown:
                raise ValueError(f"marginal {name!r} refers to unknown parts {unknown}")
            self.parts[name] = seen
        self.dep_p = dep_p
        self.dep_q = dep_q
        # a flat factorisation registers two empty dicts: no parameters, the same state dict as before trees
        self.group_p = nn.ModuleDict({g: p for g in factorisation.groups if (p := group_deps[g][0]) is not None})
        self.group_q = nn.ModuleDict({g: q for g in factorisation.groups if (q := group_deps[g][1]) is not None})

    @classmethod
    def joint(cls, factorisation: Factorisation, disc: nn.Module) -> FactorisedDiscriminator:
        """A normal GAN: one discriminator that sees the whole joint sample
        (of a tree too: its groups get no pairs)."""
        return cls(factorisation, {"joint": disc}, parts={"joint": factorisation.names},
                   group_deps={g: (None, None) for g in factorisation.groups})

    def sub_discriminators(self) -> dict[str, nn.Module]:
        """Every sub-discriminator by name, marginals first."""
        subs = dict(self.marginals.items())
        if self.dep_p is not None:
            subs[P_DEP] = self.dep_p
        if self.dep_q is not None:
            subs[Q_DEP] = self.dep_q
        for g in self.factorisation.groups:
            if g in self.group_p:
                subs[group_name(P_DEP, g)] = self.group_p[g]
            if g in self.group_q:
                subs[group_name(Q_DEP, g)] = self.group_q[g]
        return subs

    def real_parts(self) -> dict[str, tuple[str, ...]]:
        """For each sub-discriminator that sees real data, the parts its real
        samples must hold (a p-dependency one: all parts of its group)."""
        out = dict(self.parts)
        if self.dep_p is not None:
            out[P_DEP] = self.factorisation.names
        for g in self.group_p:
            out[group_name(P_DEP, g)] = self.factorisation.leaves_of(g)
        return out

    def real_sources(self) -> dict[str, str]:
        """For each sub-discriminator that sees real data, which pool it uses:
        'paired' (only full joint observations) or 'marginal' (its parts from
        every observation, paired or not). A joint discriminator needs paired data;
        a group's D_P^g ('group') observations of the whole group (``training.tree_pools``)."""
        sources = {}
        for name, seen in self.parts.items():
            covers_all = set(seen) == set(self.factorisation.names)
            needs_pairs = covers_all and len(self.factorisation.names) > 1
            sources[name] = "paired" if needs_pairs else "marginal"
        if self.dep_p is not None:
            sources[P_DEP] = "paired"
        for g in self.group_p:  # a group observed whole: complete samples or the group alone (training.tree_pools)
            sources[group_name(P_DEP, g)] = "group"
        return sources

    def losses(
        self,
        real: Mapping[str, Tensor],
        fake: Mapping[str, Tensor],
        generator: torch.Generator | None = None,
        separate_forwards: bool = False,
    ) -> dict[str, SubLoss]:
        """Each sub-discriminator's loss for one discriminator update.

        real: sub-discriminator name -> (B, ...) real data from the pool that
            ``real_sources()`` names (not needed for D_Q): full joint samples,
            or, for a marginal discriminator, only the parts it sees (a pool
            of parts observed alone).
        fake: sub-discriminator name -> (B, ...) generated joint samples
            (not needed for D_P). Pass the same tensor for every name to share
            one generated batch between all sub-discriminators.
        separate_forwards: real and fake (D_P, D_Q: unshuffled and shuffled)
            batches through separate forwards (bce_real_fake), as the original code.
        """
        f, sep = self.factorisation, separate_forwards
        out: dict[str, SubLoss] = {}
        for name, disc in self.marginals.items():
            seen = self.parts[name]
            out[name] = bce_real_fake(disc, f.parts_of(real[name], seen), f.take(fake[name], seen), sep)
        if self.dep_p is not None:
            paired = real[P_DEP]
            out[P_DEP] = bce_real_fake(self.dep_p, paired, f.shuffle(paired, generator), sep)
        if self.dep_q is not None:
            gen = fake[Q_DEP]
            out[Q_DEP] = bce_real_fake(self.dep_q, gen, f.shuffle(gen, generator), sep)
        for g in f.groups:  # each group's pair on its own entries, its nodes shuffled as blocks (App. A.3)
            for kind, discs, data in ((P_DEP, self.group_p, real), (Q_DEP, self.group_q, fake)):
                name = group_name(kind, g)
                if g in discs:
                    x = f.parts_of(data[name], (g,))
                    out[name] = bce_real_fake(discs[g], x, f.shuffle(x, generator, g), sep)
        return out

    def generator_loss(self, x: Tensor, objective: str) -> tuple[Tensor, dict[str, Tensor]]:
        """The generator's adversarial loss on generated x (B, ...): the
        objective applied to the combined logit, as for a normal GAN."""
        logit = self(x)
        return generator_loss(logit, objective), {"G/combined_prob_fake": torch.sigmoid(logit.detach()).mean()}

    def forward(self, x: Tensor) -> Tensor:
        """Combined logit (paper App. A.4): sum_i D_i(x_i) + D_P(x) - D_Q(x),
        plus D_P^g(x_g) - D_Q^g(x_g) for every group g of a tree (App. A.3).

        x: (B, ...) joint samples -> (B,) logits of "x is real".
        """
        f = self.factorisation
        # loss_dtype: under autocast (--amp) the logits are summed and the loss computed in float32
        logit = sum(loss_dtype(disc(f.take(x, self.parts[name]))) for name, disc in self.marginals.items())
        if self.dep_p is not None:
            logit = logit + loss_dtype(self.dep_p(x))
        if self.dep_q is not None:
            logit = logit - loss_dtype(self.dep_q(x))
        for g in f.groups:  # eq. 7 / eq. 8: + D_P^g(x_g) - D_Q^g(x_g) for every group below the root
            if g in self.group_p:
                logit = logit + loss_dtype(self.group_p[g](f.take(x, g)))
            if g in self.group_q:
                logit = logit - loss_dtype(self.group_q[g](f.take(x, g)))
        return logit


def factorised_or_joint(model: str, factorisation: Factorisation, marginal: Callable[[str], nn.Module],
                        joint: Callable[[bool], nn.Module], lipschitz: tuple[bool, bool],
                        marginal_parts: Sequence[str] | None = None,
                        group: Callable[[str, bool], nn.Module] | None = None) -> FactorisedDiscriminator:
    """The discriminator of the named model (``training.models_registry``).

    FactorGAN: marginal(part) for each of marginal_parts (default: every part),
    then D_P = joint(lipschitz[0]) (not for FactorGAN-no-cp) and D_Q =
    joint(lipschitz[1]), then for each group of a tree (parents first) D_P^g =
    group(g, lipschitz[0]) (not for no-cp) and D_Q^g = group(g, lipschitz[1]),
    built in this order. Other models (GAN, GAN big, pix2pix): one joint(True)
    discriminator. marginal(part) judges that part alone; joint(spectral_norm)
    judges whole joint samples; group(g, spectral_norm) the entries of group g.
    """
    spec = MODELS[model]
    if not spec.factorised:
        return FactorisedDiscriminator.joint(factorisation, joint(True))
    if factorisation.groups and group is None:
        raise ValueError(f"{factorisation!r} has groups: pass group(name, spectral_norm) to build their pairs")
    marginals = {part: marginal(part) for part in marginal_parts or factorisation.names}
    dep_p = joint(lipschitz[0]) if spec.dep_p else None
    dep_q = joint(lipschitz[1])
    group_deps = {}
    for g in factorisation.groups:
        p = group(g, lipschitz[0]) if spec.dep_p else None
        group_deps[g] = (p, group(g, lipschitz[1]))
    return FactorisedDiscriminator(factorisation, marginals, dep_p=dep_p, dep_q=dep_q, group_deps=group_deps)


class SeparateDiscriminators(FactorisedDiscriminator):
    """Discriminators that are not combined (CoGAN, CycleGAN): each judges its
    parts, and the generator's loss is the sum of the adversarial losses."""

    def __init__(self, factorisation: Factorisation, discs: Mapping[str, nn.Module],
                 parts: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(factorisation, discs, parts)

    def generator_loss(self, x: Tensor, objective: str) -> tuple[Tensor, dict[str, Tensor]]:
        f = self.factorisation
        losses = {name: generator_loss(disc(f.take(x, self.parts[name])).float(), objective)
                  for name, disc in self.marginals.items()}
        return torch.stack(list(losses.values())).sum(), {f"G/{n}/adversarial": v.detach() for n, v in losses.items()}
