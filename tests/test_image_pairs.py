"""ImagePairs on tiny synthetic pix2pix folders (16x16 after resizing)."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

import datasets.pix2pix
from datasets.pix2pix import load_split
from eval.ls import ls_distance
from ImagePairs import ImagePairs
from models.conv import ConvDiscriminator
from tests.conftest import write_pix2pix
from training.models_registry import model_flags
from training.runner import main


@pytest.fixture(scope="module")
def pix_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pix")
    write_pix2pix(root, "cityscapes")
    write_pix2pix(root, "edges2shoes", seed=1)
    return root


@pytest.mark.parametrize("dataset,channels", [("cityscapes", 6), ("edges2shoes", 4)])
def test_channels_size_and_order(pix_root, dataset, channels):
    images, names = load_split(pix_root, dataset, "train", 16, cache_dir=None, progress=False)
    assert images.shape == (12, channels, 16, 16) and images.dtype == torch.uint8
    assert names[:3] == ["1.jpg", "10.jpg", "11.jpg"]  # sorted as the reference did
    a, b = images[:, : channels - 3].float(), images[:, channels - 3:].float()
    assert a.mean() < b.mean()  # left half (A) first


def test_decoded_set_is_cached_and_reused(pix_root, tmp_path, monkeypatch):
    first, _ = load_split(pix_root, "cityscapes", "val", 16, cache_dir=tmp_path, progress=False)
    assert (tmp_path / "cityscapes_val_16px.pt").is_file()

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(datasets.pix2pix, "decode_pair", no_decoding)
    again, _ = load_split(pix_root, "cityscapes", "val", 16, cache_dir=tmp_path, progress=False)
    assert torch.equal(first, again)


def _args(root, out, *extra):
    return ["--data_root", str(root), "--out_path", str(out), "--cache_dir", str(out / "cache"),
            "--loadSize", "16", "--generator_channels", "4", "--disc_channels", "4", "--ls_channels", "4",
            "--ls_runs", "2", "--ls_epochs", "1", "--num_generated", "5", "--batchSize", "8",
            "--epochs", "2", "--epoch_iter", "2", "--no_progress", "--log_every", "1", *extra]


@pytest.mark.parametrize("model", ["GAN", "GAN big", "FactorGAN", "FactorGAN-no-cp"])  # CoGAN: test_baselines.py
def test_train_and_evaluate_each_model(pix_root, tmp_path, model):
    args = _args(pix_root, tmp_path, *model_flags(model), "--num_joint_samples", "3", "--experiment_name", "r")
    assert main(ImagePairs(), args) == 0
    run = tmp_path / "ImagePairs" / "r"
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == model and len(results["ls_runs"]) == 2
    assert all(np.isfinite(results["ls_runs"])) and results["val_split"] == [8, 2]
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and all(np.isfinite(v) for x in lines for v in x.values())
    assert (run / "samples" / "grid.png").is_file() and (run / "samples" / "0004.png").is_file()
    with open(tmp_path / "ImagePairs" / "LS.csv") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0][:6] == ["LS", "Model", "Samples", "Dataset", "Samples_Validation", "Samples_Test"]
    assert rows[1][1] == model and rows[1][3] == "edges2shoes"


def test_big_disc_doubles_the_gan_discriminator(pix_root, tmp_path):
    from training.options import build_parser

    sizes = {}
    for big in ("0", "1"):
        opts = build_parser("", ImagePairs().add_options).parse_args(
            _args(pix_root, tmp_path, "--big_disc", big))
        setup, _ = ImagePairs().build(opts, torch.device("cpu"))
        conv = setup.discriminator.marginals["joint"].features[0].layer  # the spectrally normalised conv
        sizes[big] = conv.out_channels
    assert sizes["1"] == 2 * sizes["0"]


def test_more_pairs_than_images_warns_and_uses_all(pix_root, tmp_path, capsys):
    assert main(ImagePairs(), _args(pix_root, tmp_path, "--num_joint_samples", "500",
                                    "--experiment_name", "w", "--epochs", "1", "--epoch_iter", "1")) == 0
    assert "using all of them" in capsys.readouterr().err
    split = json.loads((tmp_path / "ImagePairs" / "w" / "split.json").read_text())
    assert split["num_joint_samples"] == 12 and len(split["paired_files"]) == 12


def test_resume_gives_the_same_weights(pix_root, tmp_path):
    common = ["--factorGAN", "1", "--experiment_name", "x", "--ls_runs", "1"]
    assert main(ImagePairs(), _args(pix_root, tmp_path / "a", *common)) == 0
    assert main(ImagePairs(), _args(pix_root, tmp_path / "b", *common, "--max_steps", "3")) == 0
    assert main(ImagePairs(), _args(pix_root, tmp_path / "b", *common, "--resume")) == 0
    a, b = (torch.load(p / "ImagePairs" / "x" / "checkpoints" / "last.pt", weights_only=False)
            for p in (tmp_path / "a", tmp_path / "b"))
    for name, tensor in a["generator"].items():
        assert torch.equal(tensor, b["generator"][name]), name


def test_ls_metric_prefers_real_samples_to_a_constant(pix_root):
    data, _ = load_split(pix_root, "cityscapes", "train", 16, progress=False)
    real = data[:8].float() / 255
    held_out = data[8:].float() / 255
    rng = torch.Generator().manual_seed(0)

    def make_disc():
        torch.manual_seed(0)
        return ConvDiscriminator(6, 16, 8, spectral_norm=False)

    def like_real(n):
        return held_out[torch.randint(len(held_out), (n,), generator=rng)]

    def constant(n):
        return torch.full((n, 6, 16, 16), 0.5)

    good = ls_distance(make_disc, real[:6], real[6:], like_real, rng, epochs=60, batch_size=3, lr=1e-3)
    bad = ls_distance(make_disc, real[:6], real[6:], constant, rng, epochs=60, batch_size=3, lr=1e-3)
    assert good > bad + 0.1, (good, bad)


def _error(capsys, argv):
    code = main(ImagePairs(), argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_missing_dataset_says_how_to_get_it(tmp_path, capsys):
    msg = _error(capsys, _args(tmp_path / "nothing", tmp_path, "--dataset", "cityscapes"))
    assert "python -m datasets.download cityscapes" in msg
    assert not (tmp_path / "ImagePairs").exists()


def test_unreadable_and_badly_shaped_images(tmp_path, capsys):
    root = write_pix2pix(tmp_path / "d", "cityscapes")
    (root / "cityscapes" / "train" / "2.jpg").write_bytes(b"")
    msg = _error(capsys, _args(root, tmp_path / "o1", "--dataset", "cityscapes"))
    assert "cannot read image" in msg and "2.jpg" in msg
    Image.new("RGB", (30, 30)).save(root / "cityscapes" / "train" / "2.jpg")
    msg = _error(capsys, _args(root, tmp_path / "o2", "--dataset", "cityscapes"))
    assert "not two square halves" in msg


def test_protocol_name_matches_the_documented_settings():
    from argparse import Namespace

    from ImagePairs import PROTOCOLS
    from training.options import protocol_name

    cpu = Namespace(loadSize=64, generator_channels=32, disc_channels=16, batchSize=25, epochs=1, epoch_iter=3000)
    assert protocol_name(PROTOCOLS, cpu) == "cpu"
    assert protocol_name(PROTOCOLS, Namespace(**{**vars(cpu), "epoch_iter": 2999})) == "custom"
    paper = Namespace(loadSize=64, generator_channels=64, disc_channels=32, batchSize=25, epochs=40, epoch_iter=5000)
    assert protocol_name(PROTOCOLS, paper) == "paper"
