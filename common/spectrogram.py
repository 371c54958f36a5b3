"""Magnitude spectrograms: the STFT settings, the transforms and the
log1p normalisation shared by the MUSDB18 data, the mask separator and the
separation metric (paper App. A.2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class STFTSettings:
    sample_rate: int = 22050
    fft_size: int = 512
    hop_size: int = 256

    @property
    def bins(self) -> int:
        """Frequency bins kept (the top one is dropped: 256 for fft_size 512)."""
        return self.fft_size // 2

    def tag(self) -> str:
        return f"{self.sample_rate}Hz_fft{self.fft_size}_hop{self.hop_size}"


def stft(wave: Tensor, s: STFTSettings) -> Tensor:
    """(samples,) -> complex (fft_size // 2 + 1, frames)."""
    window = torch.hann_window(s.fft_size, device=wave.device)
    return torch.stft(wave, s.fft_size, s.hop_size, window=window, center=True, return_complex=True)


def istft(spec: Tensor, s: STFTSettings, length: int) -> Tensor:
    """complex (fft_size // 2 + 1, frames) -> (length,)."""
    window = torch.hann_window(s.fft_size, device=spec.device)
    return torch.istft(spec, s.fft_size, s.hop_size, window=window, center=True, length=length)


def normalise(mag: Tensor) -> Tensor:
    """Magnitudes (any shape, >= 0) -> log1p(mag), the scale models and pools work on."""
    return torch.log1p(mag)


def denormalise(spec: Tensor) -> Tensor:
    """Inverse of normalise: expm1(spec)."""
    return torch.expm1(spec)
