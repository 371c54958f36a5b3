"""Spectral normalisation (Miyato et al., 2018) via torch's own parametrization."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def maybe_spectral_norm(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a Linear/Conv layer's weight in spectral normalisation if enabled."""
    return spectral_norm(layer) if enabled else layer
