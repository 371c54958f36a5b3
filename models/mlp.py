"""Fully connected generator and discriminator of the PairedMNIST experiment
(paper App. A.1, Tables 1 and 2)."""

from __future__ import annotations

from torch import Tensor, nn

from models.spectral import maybe_spectral_norm


class MLPGenerator(nn.Module):
    """z: (B, nz) -> (B, out_dim) samples in [0, 1].

    nz -> hidden -> hidden -> out_dim, ReLU, sigmoid output.
    """

    def __init__(self, nz: int, out_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(nz, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, out_dim), nn.Sigmoid(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """x: (B, in_dim) -> (B,) logits, or (B, outputs) when outputs is given (an encoder).

    in_dim -> hidden -> hidden -> outputs with LeakyReLU (slope 0.01, as in the
    reference), every layer spectrally normalised when spectral_norm is True,
    by sn_impl (models.spectral.SN_IMPLS).
    """

    def __init__(self, in_dim: int, hidden: int = 128, spectral_norm: bool = True,
                 negative_slope: float = 0.01, outputs: int | None = None, sn_impl: str = "scaled") -> None:
        super().__init__()
        self.outputs = outputs
        self.net = nn.Sequential(
            maybe_spectral_norm(nn.Linear(in_dim, hidden), spectral_norm, sn_impl),
            nn.LeakyReLU(negative_slope),
            maybe_spectral_norm(nn.Linear(hidden, hidden), spectral_norm, sn_impl),
            nn.LeakyReLU(negative_slope),
            maybe_spectral_norm(nn.Linear(hidden, outputs or 1), spectral_norm, sn_impl),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out.squeeze(1) if self.outputs is None else out
