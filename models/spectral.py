"""Spectral normalisation (Miyato et al., 2018) of the discriminators' layers.

``SpectralNorm`` computes exactly what torch's ``spectral_norm``
parametrization computes (the same power iteration on the same u and v, one
step per training-mode forward, 15 at construction), but divides the layer's
*output* by sigma instead of its weight: ``(x W^T) / sigma + b`` equals
``x (W / sigma)^T + b``. For the PairedMNIST MLPs the weight matrices are far
larger than a batch of activations, and dividing (and differentiating) the
whole weight on every call was most of a training step's time
(``bench/paired_mnist_speed.py --sn_impls scaled torch``). torch's parametrization stays
available as ``impl="torch"``; the two agree to float rounding (tests).

``OriginalSpectralNorm`` (``impl="original"``) has the schedule of the
original FactorGAN code's own spectral-norm wrapper (docs/original_training.md,
rows A1-A4): no power iteration at construction, one on *every* forward in
training and eval mode alike, each v <- W^T u then u <- W v, normalised by
(norm + eps). It is an option (``--sn_impl original``) for reproducing the
original's training; the default stays "scaled".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

SN_IMPLS = ("scaled", "torch", "original")


class SpectralNorm(nn.Module):
    """A Linear or Conv2d layer whose weight is divided by its largest
    singular value sigma (of the weight reshaped to (out, -1)).

    sigma = u . (W v), with u, v from power iteration: one step per forward
    in training mode, none in eval mode, as torch's spectral_norm.
    """

    def __init__(self, layer: nn.Linear | nn.Conv2d, init_iterations: int = 15, eps: float = 1e-12) -> None:
        super().__init__()
        if not isinstance(layer, nn.Linear | nn.Conv2d):
            raise TypeError(f"SpectralNorm supports Linear and Conv2d layers, got {type(layer).__name__}")
        self.layer, self.eps = layer, eps
        w = layer.weight.detach().flatten(1)
        self.register_buffer("u", F.normalize(w.new_empty(w.shape[0]).normal_(), dim=0, eps=eps))
        self.register_buffer("v", F.normalize(w.new_empty(w.shape[1]).normal_(), dim=0, eps=eps))
        self._power_iteration(init_iterations)

    @torch.no_grad()
    def _power_iteration(self, steps: int) -> None:
        w = self.layer.weight.flatten(1)
        for _ in range(steps):
            self.u.copy_(F.normalize(torch.mv(w, self.v), dim=0, eps=self.eps))
            self.v.copy_(F.normalize(torch.mv(w.t(), self.u), dim=0, eps=self.eps))

    def sigma(self) -> Tensor:
        """The current estimate of the weight's spectral norm (scalar, differentiable in W)."""
        if self.training:
            self._power_iteration(1)
        # clones: a layer called twice before backward (shared CoGAN layers) must not see u, v change
        return torch.vdot(self.u.clone(), torch.mv(self.layer.weight.flatten(1), self.v.clone()))

    def forward(self, x: Tensor) -> Tensor:
        """x: the layer's input -> the layer's output with weight W / sigma."""
        layer, sigma = self.layer, self.sigma()
        if isinstance(layer, nn.Linear):
            y = F.linear(x, layer.weight) / sigma
            return y if layer.bias is None else y + layer.bias
        y = layer._conv_forward(x, layer.weight, None) / sigma
        return y if layer.bias is None else y + layer.bias.view(1, -1, 1, 1)


class OriginalSpectralNorm(SpectralNorm):
    """SpectralNorm with the original FactorGAN code's power-iteration schedule.

    u (rows) and v (columns) start as normalised N(0, 1) draws with no
    iteration; every forward, whatever the module's train/eval mode, first
    runs one iteration (v <- W^T u / (|W^T u| + eps), then u <- W v /
    (|W v| + eps)), then divides by sigma = u . (W v). So a layer called
    twice (real and fake batches in separate forwards) iterates twice.
    """

    def __init__(self, layer: nn.Linear | nn.Conv2d, eps: float = 1e-12) -> None:
        super().__init__(layer, init_iterations=0, eps=eps)
        with torch.no_grad():  # the original divides by norm + eps (SpectralNorm: by max(norm, eps))
            self.u.copy_(self.u / (self.u.norm() + eps))
            self.v.copy_(self.v / (self.v.norm() + eps))

    @torch.no_grad()
    def _power_iteration(self, steps: int) -> None:
        w = self.layer.weight.flatten(1)
        for _ in range(steps):
            v = torch.mv(w.t(), self.u)
            self.v.copy_(v / (v.norm() + self.eps))
            u = torch.mv(w, self.v)
            self.u.copy_(u / (u.norm() + self.eps))

    def sigma(self) -> Tensor:
        """One power iteration (in any mode), then u . (W v) (scalar, differentiable in W)."""
        self._power_iteration(1)
        return torch.vdot(self.u.clone(), torch.mv(self.layer.weight.flatten(1), self.v.clone()))


def maybe_spectral_norm(layer: nn.Linear | nn.Conv2d, enabled: bool, impl: str = "scaled") -> nn.Module:
    """Wrap a Linear/Conv2d layer in spectral normalisation if enabled.

    impl: "scaled" (SpectralNorm, the default: faster), "torch" (torch's
    parametrization, which rescales the weight itself) or "original"
    (OriginalSpectralNorm: the original FactorGAN code's schedule).
    """
    if not enabled:
        return layer
    if impl == "scaled":
        return SpectralNorm(layer)
    if impl == "original":
        return OriginalSpectralNorm(layer)
    if impl == "torch":
        return spectral_norm(layer)
    raise ValueError(f"unknown spectral norm implementation {impl!r}; choose from {SN_IMPLS}")
