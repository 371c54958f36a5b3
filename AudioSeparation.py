"""AudioSeparation (paper Sec. 4.4, Fig. 6): separate vocals and accompaniment
of MUSDB18 songs with a mask U-Net, from few paired songs and many unpaired
source recordings; scored by SDR (museval).

    python AudioSeparation.py --factorGAN 1 --num_joint_songs 10 --musdb_path /data/MUSDB18
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.spectrogram import STFTSettings, normalise, stft
from datasets.musdb_spectrograms import load_subset, open_db, resample, snippet_starts, to_mono
from eval.sampling import WithNoise
from eval.separation import resynthesise, sdr, separate_spectrogram, summarise
from models.conv import ConvDiscriminator
from models.separator import MaskSeparator
from models.unet import UNet
from training.data import ConditionalInput, SnippetPool
from training.discriminator import factorised_or_joint
from training.factorisation import Factorisation
from training.loop import GANSetup, assign_pools
from training.models_registry import MODELS, model_name
from training.options import UserError, cache_dir, int01, paired_count
from training.runner import Experiment, Run, append_csv, main

SNIPPET, SNIPPET_HOP = 128, 64
SOURCE_NAMES = ("accompaniment", "vocals")


def settings(opts: argparse.Namespace) -> STFTSettings:
    return STFTSettings(opts.sample_rate, opts.fft_size, opts.hop_size)


class AudioSeparation(Experiment):
    task = "AudioSeparation"
    description = __doc__

    def add_options(self, g: argparse._ArgumentGroup) -> None:
        g.add_argument("--musdb_path", type=str, default=None,
                       help="MUSDB18 root with train/ and test/ (default: DATA_ROOT/musdb)")
        g.add_argument("--is_wav", type=int01, default=0, help="1: MUSDB18-HQ WAV layout; 0: .stem.mp4 files")
        g.add_argument("--preprocessed_dataset_path", type=str, default=None,
                       help="cache of the spectrograms (default: CACHE_DIR/musdb)")
        g.add_argument("--num_joint_songs", type=int, default=100,
                       help="how many training songs are available as (accompaniment, vocals) pairs")
        g.add_argument("--sample_rate", type=int, default=22050, help="audio is resampled to this rate")
        g.add_argument("--fft_size", type=int, default=512, help="STFT window size")
        g.add_argument("--hop_size", type=int, default=256, help="STFT hop size")
        g.add_argument("--generator_channels", type=int, default=32, help="U-Net width (ngf)")
        g.add_argument("--disc_channels", type=int, default=32, help="first-layer channels of each discriminator")
        g.add_argument("--griffin_lim_iterations", type=int, default=10, help="phase refinement iterations")

    def default_name(self, opts: argparse.Namespace) -> str:
        return f"{model_name(opts, self.task)}_{opts.num_joint_songs}songs"

    def _paths(self, opts: argparse.Namespace) -> tuple[Path, Path]:
        musdb = Path(opts.musdb_path) if opts.musdb_path else Path(opts.data_root) / "musdb"
        cache = Path(opts.preprocessed_dataset_path) if opts.preprocessed_dataset_path else cache_dir(opts) / "musdb"
        return musdb, cache

    def build(self, opts: argparse.Namespace, device: torch.device) -> tuple[GANSetup, dict[str, Any]]:
        musdb, cache = self._paths(opts)
        songs = load_subset(musdb, "train", bool(opts.is_wav), settings(opts), cache, progress=not opts.no_progress)
        self.test_db = open_db(musdb, "test", bool(opts.is_wav))  # opened before training: a missing test set fails now
        n_paired = paired_count(opts, "num_joint_songs", len(songs), "training songs")
        order = torch.randperm(len(songs), generator=torch.Generator().manual_seed(opts.seed)).tolist()
        paired = sorted(order[:n_paired])
        all_songs = snippets(songs, range(len(songs)), device)
        paired_songs = snippets(songs, paired, device)
        setup = build_gan(opts, device, paired_songs, all_songs)
        split = {"num_joint_songs": n_paired, "paired_songs": [songs[i]["name"] for i in paired],
                 "all_songs": [s["name"] for s in songs]}
        return setup, split

    def evaluate(self, setup: GANSetup, opts: argparse.Namespace, run: Run) -> dict[str, Any]:
        import soundfile

        s, device = settings(opts), next(setup.generator.parameters()).device
        rng = torch.Generator(device=device).manual_seed(opts.seed + 1)
        separate = WithNoise(setup.generator, opts.nz, rng)  # (B, 1, F, T) mixtures -> (B, 2, F, T) sources
        scores: dict[str, dict[str, list[np.ndarray]]] = {"15s": {n: [] for n in SOURCE_NAMES},
                                                          "1s": {n: [] for n in SOURCE_NAMES}}
        for track in self.test_db.tracks:
            estimates = separate_track(track, separate, s, opts.griffin_lim_iterations, device)
            folder = run.path / "estimates" / track.name
            folder.mkdir(parents=True, exist_ok=True)
            for name, est in zip(SOURCE_NAMES, estimates, strict=True):
                soundfile.write(str(folder / f"{name}.wav"), est, track.rate)
            refs = np.stack([track.targets[n].audio for n in SOURCE_NAMES])
            for window, seconds in (("15s", 15.0), ("1s", 1.0)):
                values = sdr(refs, estimates, track.rate, seconds)
                for name, v in zip(SOURCE_NAMES, values, strict=True):
                    scores[window][name].append(v)
        summary = {w: {n: summarise(np.concatenate(v)) for n, v in per.items()} for w, per in scores.items()}
        model = model_name(opts, self.task)
        append_csv(run.path.parent / "sdr.csv",
                   ["Songs", "Model", "Median SDR", "MAD SDR", "Mean SDR", "SDR Std", "Source", "Window"],
                   [[opts.num_joint_songs, model, x["median"], x["mad"], x["mean"], x["std"], n.capitalize(), w]
                    for w, per in summary.items() for n, x in per.items()], delimiter=",")
        return {"model": model, "num_joint_songs": opts.num_joint_songs, "sdr": summary}


def snippets(songs: list[dict], which: Any, device: torch.device) -> tuple[SnippetPool, SnippetPool]:
    """Pools of 128-frame snippets every 64 frames of the chosen songs:
    (mixtures (B, 1, F, 128), sources (B, 2, F, 128))."""
    chosen = [songs[i]["spec"] for i in which]
    starts, offset = [], 0
    for spec in chosen:
        starts += [offset + s for s in snippet_starts(spec.shape[-1], SNIPPET, SNIPPET_HOP)]
        offset += spec.shape[-1]
    if not starts:
        raise UserError(f"the songs are shorter than one {SNIPPET}-frame snippet")
    data = torch.cat(chosen, dim=-1).to(device)
    starts_t = torch.tensor(starts)
    return SnippetPool(data[:1], starts_t, SNIPPET), SnippetPool(data[1:], starts_t, SNIPPET)


def build_gan(opts: argparse.Namespace, device: torch.device, paired: tuple[SnippetPool, SnippetPool],
              everything: tuple[SnippetPool, SnippetPool]) -> GANSetup:
    """FactorGAN: marginal discriminators for accompaniment and vocals (all
    songs), D_P / D_Q on (accompaniment, vocals) pairs; mixtures from all songs.
    GAN: one joint discriminator; mixtures and pairs from the paired songs."""
    bins, width = opts.fft_size // 2, opts.disc_channels
    model = model_name(opts, AudioSeparation.task)
    factorisation = Factorisation([("accompaniment", 1), ("vocals", 1)], dim=1)

    def conv(channels: int, sn: bool = True) -> ConvDiscriminator:
        return ConvDiscriminator(channels, bins, width, sn, width=SNIPPET, sn_impl=opts.sn_impl)

    disc = factorised_or_joint(model, factorisation, marginal=lambda part: conv(factorisation.sizes[part]),
                               joint=lambda spectral_norm: conv(2, spectral_norm),
                               lipschitz=(bool(opts.lipschitz_p), bool(opts.lipschitz_q)))
    mixtures = everything[0] if MODELS[model].factorised else paired[0]
    generator = MaskSeparator(UNet(1, 1, opts.nz, bins, SNIPPET, opts.generator_channels))
    pools = assign_pools(disc, paired=paired[1], marginal=everything[1])
    return GANSetup(generator.to(device), disc.to(device), ConditionalInput(mixtures, opts.nz), pools)


def separate_track(track: Any, separate: WithNoise, s: STFTSettings, iterations: int,
                   device: torch.device) -> np.ndarray:
    """A whole musdb track -> (2, samples, 2) stereo estimates at the track's rate."""
    mono = torch.from_numpy(to_mono(track.audio, track.rate, s.sample_rate)).to(device)
    mix = normalise(stft(mono, s).abs()[: s.bins])
    sources = separate_spectrogram(separate, mix, SNIPPET)
    waves = resynthesise(sources, mono, s, iterations).cpu().numpy()
    samples = track.audio.shape[0]
    out = []
    for wave in waves:
        back = resample(wave, s.sample_rate, track.rate)[:samples]
        back = np.pad(back, (0, samples - back.shape[0]))
        out.append(np.stack([back, back], axis=1))
    return np.stack(out)


if __name__ == "__main__":
    sys.exit(main(AudioSeparation()))
