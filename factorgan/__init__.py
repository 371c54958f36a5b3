"""FactorGAN as a library: the public surface of this repository's core.

    from factorgan import (Factorisation, FactorisedDiscriminator, GANSetup, LoopConfig,
                           NoiseInput, TensorPool, TrainState, assign_pools, train)

A joint sample splits into named parts (``Factorisation``); a
``FactorisedDiscriminator`` holds one marginal discriminator per part plus the
p- and q-dependency pair and gives the generator one combined logit; pools
hold real data (complete pairs for D_P, and for each marginal discriminator
either its parts of every observation or a pool of that part observed alone);
``train`` runs the paper's schedule and keeps its log in memory unless given
other hooks. ``examples/two_part.py`` is a one-screen walk-through.

A factorisation can nest (paper App. A.3): a node is a part ``(name, size)``
or a group ``(name, [nodes])``. Every group below the root gets its own
p/q-dependency pair on its entries (its nodes shuffled across the batch as
whole blocks), and the combined logit adds D_P^g - D_Q^g for each (eq. 7);
``Factorisation.autoregressive`` nests a sequence of parts so that step t's
pair relates parts 1..t-1 to part t (eq. 8). ``tree_pools`` gives each
sub-discriminator every observation that holds its parts: complete samples,
a group observed alone, a part observed alone::

    f = Factorisation([("left", [("ul", 784), ("ll", 784)]), ("right", [("ur", 784), ("lr", 784)])])
    d = lambda size: MLPDiscriminator(size)
    disc = FactorisedDiscriminator(f, {p: d(784) for p in f.names}, dep_p=d(3136), dep_q=d(3136),
                                   group_deps={g: (d(1568), d(1568)) for g in f.groups})
    pools = tree_pools(disc, complete=grids, alone={"left": left_columns, "ul": digits})  # (N, width) tensors
    # pools["ul"]: ul of grids + of left_columns + digits; pools["p_dep/left"]: grids' + left_columns;
    # pools["p_dep"]: grids only. A depth-1 tree is the flat FactorGAN, bit for bit.
    # Ensembles (train_ensemble) stack flat factorisations only.

Several independent runs (e.g. seeds) train faster as one ``Ensemble`` of
stacked networks, each member exactly the run it would be alone::

    states = [TrainState.create(make_setup(seed), seed=seed) for seed in (1337, 1, 2)]
    outcome = train_ensemble(states, LoopConfig(epochs=1, epoch_iter=1000))
    states[0].state_dict()  # member 0's checkpoint, in the single-run format
"""

from common.io import load_checkpoint, save_atomic
from models.mlp import MLPDiscriminator, MLPGenerator
from models.spectral import SpectralNorm, maybe_spectral_norm
from training.data import ConditionalInput, NoiseInput, Pool, SnippetPool, TensorPool, tree_pools
from training.discriminator import FactorisedDiscriminator, SeparateDiscriminators
from training.ensemble import Ensemble, ensemble_train_step
from training.ensemble_loop import EnsembleOutcome, train_ensemble
from training.factorisation import ROOT, Factorisation
from training.loop import GANSetup, LoopConfig, MemoryLog, TrainState, assign_pools, train, train_step

__all__ = [
    "ROOT", "ConditionalInput", "Ensemble", "EnsembleOutcome", "Factorisation", "FactorisedDiscriminator", "GANSetup", "LoopConfig", "MLPDiscriminator",
    "MLPGenerator", "MemoryLog", "NoiseInput", "Pool", "SeparateDiscriminators", "SnippetPool", "SpectralNorm",
    "TensorPool", "TrainState", "assign_pools", "ensemble_train_step", "load_checkpoint", "maybe_spectral_norm",
    "save_atomic", "train", "train_ensemble", "train_step", "tree_pools",
]
