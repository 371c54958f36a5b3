"""PairedMNIST --layout 2x2: the four-digit grids' factorisations and GAN
(issue 36; paper App. A.3).

``--factorisation`` chooses the discriminator: ``joint`` (a GAN), ``flat``
(four digit marginals and one p/q pair over all four), ``hierarchical`` (the
two columns as groups, eq. 7) or ``autoregressive`` (the four digits in
storage order, eq. 8). Columns observed alone feed the pair of the node that
is exactly that column where the tree has one (hierarchical: both columns;
autoregressive: the left column, the prefix ul..ll), otherwise only the
digits' marginals.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from common.digit_pairs import DIGIT_PIXELS
from common.errors import UserError
from datasets.mnist_grids import COLUMNS, GRID_DIM, POSITIONS
from models.mlp import MLPDiscriminator, MLPGenerator
from training.data import NoiseInput, TensorPool, tree_pools
from training.discriminator import factorised_or_joint
from training.factorisation import Factorisation
from training.loop import GANSetup
from training.models_registry import model_name
from training.options import Implies

FACTORISATIONS = ("joint", "flat", "hierarchical", "autoregressive")
LAYOUTS = ("2x1", "2x2")


class FactorisationChoice(Implies):
    """--factorisation KIND, which also selects the model: joint a GAN
    (--factorGAN 0), the others FactorGAN (--factorGAN 1)."""

    @staticmethod
    def implied(kind: str) -> dict[str, Any]:
        return {"factorGAN": 0 if kind == "joint" else 1}


def resolve_factorisation(opts: argparse.Namespace, task: str) -> str:
    """The factorisation a run trains: --factorisation, else joint for a GAN
    and flat for FactorGAN; a UserError for options that do not fit."""
    model = model_name(opts, task)
    kind = opts.factorisation or ("joint" if model == "GAN" else "flat")
    if opts.layout == "2x1" and kind in ("hierarchical", "autoregressive"):
        raise UserError(f"--factorisation {kind} needs the four-digit grids: add --layout 2x2")
    if opts.layout == "2x2" and model not in ("GAN", "FactorGAN", "FactorGAN-no-cp"):
        raise UserError(f"--layout 2x2 trains GAN and FactorGAN (--factorisation), not {model}")
    if (kind == "joint") != (model == "GAN"):
        raise UserError(f"--factorisation {kind} does not fit {model}: joint is the GAN (--factorGAN 0), "
                        "flat, hierarchical and autoregressive are FactorGAN (--factorGAN 1)")
    return kind


def grid_factorisation(kind: str) -> Factorisation:
    """The tree of a --factorisation over the grid's four 784-value digits."""
    parts = [(p, DIGIT_PIXELS) for p in POSITIONS]
    if kind == "hierarchical":
        return Factorisation([(c, [(p, DIGIT_PIXELS) for p in ps]) for c, ps in COLUMNS.items()], total=GRID_DIM)
    if kind == "autoregressive":
        return Factorisation.autoregressive(parts, total=GRID_DIM)
    if kind in ("joint", "flat"):
        return Factorisation(parts, total=GRID_DIM)
    raise ValueError(f"unknown factorisation {kind!r}; choose from {FACTORISATIONS}")


def grid_observations(f: Factorisation, columns: Mapping[str, Tensor],
                      digits: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The `alone` observations of tree_pools: a column goes to the node that
    is exactly that column, or (no such node) into its two digits."""
    alone: dict[str, list[Tensor]] = {p: [x] for p, x in digits.items()}
    for column, x in columns.items():
        positions = COLUMNS[column]
        node = next((n for n in (*f.groups, *f.names) if f.leaves_of(n) == positions), None)
        if node is not None:
            alone.setdefault(node, []).append(x)
        else:
            for k, p in enumerate(positions):
                alone[p].append(x[:, k * DIGIT_PIXELS:(k + 1) * DIGIT_PIXELS])
    return {n: xs[0] if len(xs) == 1 else torch.cat(xs) for n, xs in alone.items()}


def build_grid_gan(opts: argparse.Namespace, device: torch.device, task: str,
                   observed: Sequence[Any] | None) -> GANSetup:
    """The generator (nz -> 3136) and the discriminator of opts' factorisation
    (MLPs as for the pairs; a group's pair sees the group's entries), built
    in --init_order, with pools from observed = (complete, columns, digits)
    of datasets.mnist_grids.observed_split (None: every pool a blank sample,
    for sampling a saved generator)."""
    f = grid_factorisation(resolve_factorisation(opts, task))
    sn = opts.sn_impl
    first = MLPGenerator(opts.nz, GRID_DIM) if opts.init_order == "generator_first" else None
    disc = factorised_or_joint(
        model_name(opts, task), f, marginal=lambda part: MLPDiscriminator(f.sizes[part], sn_impl=sn),
        joint=lambda spectral_norm: MLPDiscriminator(GRID_DIM, spectral_norm=spectral_norm, sn_impl=sn),
        lipschitz=(bool(opts.lipschitz_p), bool(opts.lipschitz_q)),
        group=lambda g, spectral_norm: MLPDiscriminator(f.size(g), spectral_norm=spectral_norm, sn_impl=sn))
    generator = first if first is not None else MLPGenerator(opts.nz, GRID_DIM)
    if observed is None:
        blank = TensorPool(torch.zeros(1, GRID_DIM, device=device))
        pools = {name: blank for name in disc.real_parts()}
    else:
        complete, columns, digits = observed
        pools = tree_pools(disc, complete, grid_observations(f, columns, digits))
    return GANSetup(generator.to(device), disc.to(device), NoiseInput(opts.nz), dict(pools))
