"""AudioSeparation on a tiny synthetic MUSDB18-HQ folder (3 s songs)."""

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile
import torch

import datasets.musdb_spectrograms as ms
from AudioSeparation import AudioSeparation
from common.spectrogram import STFTSettings, denormalise
from datasets.musdb_spectrograms import load_subset
from eval.separation import sdr, separate_spectrogram, window_starts
from models.separator import MaskSeparator
from models.unet import UNet
from training.models_registry import model_flags
from training.runner import main

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the musdb package needs ffmpeg")
RATE, SECONDS = 44100, 3.0


def _write_musdb(root, tracks=(("train", "A"), ("train", "B"), ("test", "C"))):
    rng = np.random.default_rng(0)
    t = np.arange(int(RATE * SECONDS)) / RATE
    for i, (subset, name) in enumerate(tracks):
        folder = root / subset / name
        folder.mkdir(parents=True)
        stems = {
            "drums": 0.1 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 2 * t) > 0),
            "bass": 0.2 * np.sin(2 * np.pi * (55 + 10 * i) * t),
            "other": 0.1 * np.sin(2 * np.pi * 330 * t),
            "vocals": 0.2 * np.sin(2 * np.pi * (440 + 40 * i) * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2,
        }
        stems["mixture"] = sum(stems.values())
        for stem, wave in stems.items():
            soundfile.write(folder / f"{stem}.wav", np.stack([wave, wave], 1).astype(np.float32), RATE)
    return root


@pytest.fixture(scope="module")
def musdb_root(tmp_path_factory):
    return _write_musdb(tmp_path_factory.mktemp("musdb"))


def test_preprocessing_shapes_counts_and_cache(musdb_root, tmp_path, monkeypatch):
    s = STFTSettings()
    songs = load_subset(musdb_root, "train", True, s, tmp_path, progress=False)
    frames = int(RATE * SECONDS / 2) // s.hop_size + 1
    assert [x["name"] for x in songs] == ["A", "B"]
    assert all(x["spec"].shape == (3, 256, frames) for x in songs)
    assert ms.snippet_starts(frames) == [0, 64, 128]

    def no_preprocessing(*args):
        raise AssertionError("preprocessed again")

    monkeypatch.setattr(ms, "song_spectrograms", no_preprocessing)
    again = load_subset(musdb_root, "train", True, s, tmp_path, progress=False)
    assert torch.equal(again[0]["spec"], songs[0]["spec"])


def test_mask_outputs_add_up_to_the_mixture():
    sep = MaskSeparator(UNet(1, 1, nz=4, height=32, width=16, ngf=4))
    mix = torch.rand(3, 1, 32, 16) * 3
    out = sep(mix, torch.rand(3, 4))
    assert out.shape == (3, 2, 32, 16)
    total = denormalise(out[:, :1]) + denormalise(out[:, 1:])
    assert torch.allclose(total, denormalise(mix), atol=1e-5)


def test_windows_cover_the_song_with_the_last_aligned_to_the_end():
    assert window_starts(300, 128) == [0, 128, 172]
    assert window_starts(256, 128) == [0, 128]
    assert window_starts(50, 128) == [0]
    mix = torch.rand(8, 300)
    out = separate_spectrogram(lambda x: torch.cat([x, 2 * x], 1), mix, 128)
    assert torch.equal(out[0], mix) and torch.equal(out[1], 2 * mix)


def test_museval_gives_a_very_high_sdr_for_a_perfect_estimate():
    rng = np.random.default_rng(1)
    refs = rng.standard_normal((2, RATE * 2, 2))
    noisy = refs + 0.3 * rng.standard_normal(refs.shape)
    assert np.nanmin(sdr(refs, refs, RATE, 1.0)) > 60
    assert np.nanmax(sdr(refs, noisy, RATE, 1.0)) < 20


@pytest.mark.parametrize("model", ["GAN", "FactorGAN"])
def test_train_and_evaluate(musdb_root, tmp_path, model):
    args = ["--musdb_path", str(musdb_root), "--is_wav", "1", "--out_path", str(tmp_path),
            "--cache_dir", str(tmp_path / "cache"), "--generator_channels", "2", "--disc_channels", "2",
            "--batchSize", "2", "--epochs", "1", "--epoch_iter", "2", "--num_joint_songs", "1",
            "--griffin_lim_iterations", "2", "--no_progress", "--experiment_name", "r", *model_flags(model)]
    assert main(AudioSeparation(), args) == 0
    run = tmp_path / "AudioSeparation" / "r"
    results = json.loads((run / "results.json").read_text())
    for window in ("15s", "1s"):
        for source in ("accompaniment", "vocals"):
            assert np.isfinite(results["sdr"][window][source]["median"])
    wave, rate = soundfile.read(run / "estimates" / "C" / "vocals.wav")
    assert rate == RATE and wave.shape == (int(RATE * SECONDS), 2)
    split = json.loads((run / "split.json").read_text())
    assert len(split["paired_songs"]) == 1 and split["all_songs"] == ["A", "B"]
    with open(tmp_path / "AudioSeparation" / "sdr.csv") as f:
        header = next(csv.reader(f))
    assert header[:7] == ["Songs", "Model", "Median SDR", "MAD SDR", "Mean SDR", "SDR Std", "Source"]


def test_missing_musdb_folder(tmp_path, capsys):
    code = main(AudioSeparation(), ["--musdb_path", str(tmp_path / "none"), "--out_path", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--musdb_path" in err[0]
