"""Source separation evaluation (paper Sec. 4.4): separate whole songs,
resynthesise with the mixture phase and Griffin-Lim, score SDR with museval."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from common.spectrogram import STFTSettings, denormalise, istft, stft


def window_starts(frames: int, length: int) -> list[int]:
    """Consecutive windows covering all frames, the last aligned to the end."""
    if frames <= length:
        return [0]
    starts = list(range(0, frames - length + 1, length))
    if starts[-1] + length < frames:
        starts.append(frames - length)
    return starts


@torch.no_grad()
def separate_spectrogram(separate: Callable[[Tensor], Tensor], mix: Tensor, length: int = 128,
                         batch_size: int = 16) -> Tensor:
    """mix: (F, T) normalised mixture -> (S, F, T) normalised sources.

    separate: (B, 1, F, length) -> (B, S, F, length). A song shorter than one
    window is zero-padded.
    """
    frames = mix.shape[1]
    padded = torch.nn.functional.pad(mix, (0, max(0, length - frames)))
    starts = window_starts(frames, length)
    windows = torch.stack([padded[:, s:s + length] for s in starts])[:, None]  # (W, 1, F, length)
    outs = torch.cat([separate(windows[i:i + batch_size]) for i in range(0, len(starts), batch_size)])
    result = torch.zeros(outs.shape[1], mix.shape[0], padded.shape[1], device=mix.device)
    for start, out in zip(starts, outs, strict=True):  # later windows overwrite the overlap
        result[:, :, start:start + length] = out
    return result[:, :, :frames]


def griffin_lim(mag: Tensor, phase: Tensor, s: STFTSettings, length: int, iterations: int = 10) -> Tensor:
    """Waveform whose STFT magnitude approximates mag, starting from phase.

    mag: (fft_size // 2 + 1, T) magnitudes; phase: complex unit-modulus, same shape.
    """
    spec = mag * phase
    for _ in range(iterations):
        rebuilt = stft(istft(spec, s, length), s)
        spec = mag * torch.exp(1j * torch.angle(rebuilt))
    return istft(spec, s, length)


def resynthesise(sources: Tensor, mix_wave: Tensor, s: STFTSettings, iterations: int = 10) -> Tensor:
    """sources: (S, bins, T) normalised estimates, mix_wave: (n,) -> (S, n) waveforms,
    using the mixture phase and Griffin-Lim; the dropped top bin is set to 0."""
    mix_spec = stft(mix_wave, s)
    phase = torch.exp(1j * torch.angle(mix_spec))
    top = torch.zeros(sources.shape[0], 1, sources.shape[2], device=sources.device)
    mags = torch.cat([denormalise(sources), top], dim=1)
    return torch.stack([griffin_lim(m, phase, s, mix_wave.shape[0], iterations) for m in mags])


def sdr(references: np.ndarray, estimates: np.ndarray, rate: int, window_seconds: float) -> np.ndarray:
    """BSS Eval v4 SDR per source and window (museval).

    references, estimates: (S, samples, channels) -> (S, windows).
    """
    import museval

    win = int(window_seconds * rate)
    values, _, _, _ = museval.evaluate(references, estimates, win=win, hop=win)
    return np.asarray(values)


def summarise(values: np.ndarray) -> dict[str, float]:
    """Median, median absolute deviation, mean and std over finite values."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"median": float("nan"), "mad": float("nan"), "mean": float("nan"), "std": float("nan")}
    med = float(np.median(v))
    return {"median": med, "mad": float(np.median(np.abs(v - med))), "mean": float(v.mean()),
            "std": float(v.std())}
