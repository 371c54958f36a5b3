"""MUSDB18 as normalised magnitude spectrograms (paper Sec. 4.4, App. A.2).

Every song is turned once into mono at ``sample_rate``, an STFT magnitude
(Hann window ``fft_size``, hop ``hop_size``) without its top frequency bin, and
log1p-normalised (``common.spectrogram``), for the mixture, the accompaniment
(bass + drums + other) and the vocals. The result is cached under the
preprocessed-data folder in a file whose name encodes the settings; the
dataset folder is only read.
"""

from __future__ import annotations

import shutil
from math import gcd
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly
from torch import Tensor
from tqdm import tqdm

from common.errors import UserError
from common.io import load_cache, save_atomic
from common.spectrogram import STFTSettings, normalise, stft

SOURCES = ("mixture", "accompaniment", "vocals")


def to_mono(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """(samples, channels) at rate -> (samples',) float32 mono at target_rate."""
    return resample(np.asarray(audio, dtype=np.float32).mean(axis=1), rate, target_rate)


def resample(wave: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """(samples,) -> (samples',) at target_rate."""
    if rate == target_rate:
        return wave.astype(np.float32)
    g = gcd(int(rate), int(target_rate))
    return resample_poly(wave, target_rate // g, rate // g).astype(np.float32)


def magnitude(wave: np.ndarray, s: STFTSettings) -> Tensor:
    """(samples,) -> (bins, frames) normalised magnitude without the top bin."""
    return normalise(stft(torch.from_numpy(wave), s).abs()[: s.bins])


def open_db(musdb_path: str | Path, subset: str, is_wav: bool):
    """A musdb.DB for one subset, with clear errors for the usual problems."""
    root = Path(musdb_path)
    if not (root / subset).is_dir():
        raise UserError(f"no MUSDB18 '{subset}' folder under {root}: point --musdb_path at the MUSDB18 "
                        "root (with train/ and test/), and set --is_wav 1 for the WAV (HQ) layout")
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        # the musdb package (through stempeg) refuses to import without them, even for WAV files
        raise UserError("the musdb package needs ffmpeg and ffprobe on PATH (Debian: apt-get install ffmpeg)")
    import musdb

    db = musdb.DB(root=str(root), is_wav=is_wav, subsets=subset)
    if len(db) == 0:
        kind = "<track>/mixture.wav folders" if is_wav else ".stem.mp4 files"
        raise UserError(f"no tracks in {root / subset}: expected {kind} (set --is_wav to match)")
    return db


def song_spectrograms(track, s: STFTSettings) -> Tensor:
    """One musdb track -> (3, bins, frames) normalised mixture, accompaniment, vocals."""
    rate = track.rate
    waves = [to_mono(track.audio, rate, s.sample_rate),
             to_mono(track.targets["accompaniment"].audio, rate, s.sample_rate),
             to_mono(track.targets["vocals"].audio, rate, s.sample_rate)]
    return torch.stack([magnitude(w, s) for w in waves])


def load_subset(musdb_path: str | Path, subset: str, is_wav: bool, s: STFTSettings,
                cache_dir: str | Path, progress: bool = True) -> list[dict]:
    """Spectrograms of every song of a subset, preprocessed once and cached.

    Returns [{"name": str, "spec": (3, bins, frames) float16}, ...] in musdb's order.
    """
    layout = "wav" if is_wav else "stems"
    cache = Path(cache_dir) / f"{Path(musdb_path).resolve().name}_{layout}_{subset}_{s.tag()}.pt"
    songs = load_cache(cache, kind=list)
    if songs is not None:
        return songs
    db = open_db(musdb_path, subset, is_wav)
    songs = [{"name": t.name, "spec": song_spectrograms(t, s).half()}
             for t in tqdm(db.tracks, desc=f"preprocessing MUSDB18 {subset}", disable=not progress)]
    save_atomic(songs, cache)
    return songs


def snippet_starts(frames: int, length: int = 128, hop: int = 64) -> list[int]:
    """Start frames of the length-frame snippets taken every hop frames."""
    return list(range(0, frames - length + 1, hop))
