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
"""

from common.io import load_checkpoint, save_atomic
from models.mlp import MLPDiscriminator, MLPGenerator
from models.spectral import SpectralNorm, maybe_spectral_norm
from training.data import ConditionalInput, NoiseInput, Pool, SnippetPool, TensorPool
from training.discriminator import FactorisedDiscriminator, SeparateDiscriminators
from training.factorisation import Factorisation
from training.loop import GANSetup, LoopConfig, MemoryLog, TrainState, assign_pools, train, train_step

__all__ = [
    "ConditionalInput", "Factorisation", "FactorisedDiscriminator", "GANSetup", "LoopConfig", "MLPDiscriminator",
    "MLPGenerator", "MemoryLog", "NoiseInput", "Pool", "SeparateDiscriminators", "SnippetPool", "SpectralNorm",
    "TensorPool", "TrainState", "assign_pools", "load_checkpoint", "maybe_spectral_norm", "save_atomic", "train",
    "train_step",
]
