"""A newcomer's mistakes and damaged files: each ends in one clear line, before any training.

Damaged caches are rebuilt after one warning line; damaged files that cannot
be rebuilt, wrong options and inputs are one error line (exit code 2) that
names the file or flag and says what to do.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from analysis import fig2_image_pairs
from AudioSeparation import AudioSeparation
from common.errors import UserError
from common.io import load_cache, save_atomic
from datasets.image_folders import load_part
from datasets.mnist_pairs import load_mnist
from datasets.pix2pix import load_split
from eval import mnist
from eval.mnist import CLASSIFIERS, load_or_train_classifier
from Image2Image import Image2Image
from ImagePairs import ImagePairs
from PairedMNIST import PairedMNIST
from tests.conftest import write_fake_mnist, write_pix2pix
from training import coupling
from training.options import build_parser, cache_dir, check_options
from training.runner import main

DAMAGES = ["truncated", "random bytes", "another dict"]


def damage(path: Path, how: str) -> None:
    """Damage a torch file the three ways a user's files get damaged."""
    if how == "truncated":  # a copy that broke off
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "random bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    else:  # a valid torch file of another kind under this name
        torch.save({"something": torch.zeros(3)}, path)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def fast_training(module, monkeypatch, calls: list) -> None:
    """module.train_classifier for one epoch on 60 digits, counted in calls."""
    real = mnist.train_classifier

    def train_classifier(images, labels, **kwargs):
        calls.append(len(images))
        return real(images[:60], labels[:60], epochs=1, seed=kwargs.get("seed", 0), progress=False)

    monkeypatch.setattr(module, "train_classifier", train_classifier)


# -- damaged caches: one warning line naming the file, then rebuilt ------------------------------------------


@pytest.mark.parametrize("how", [*DAMAGES, "no numeric score"])
def test_a_damaged_evaluation_classifier_cache_is_trained_again(how, mnist_root, tmp_path, monkeypatch, capsys):
    cache, calls = tmp_path / "cache", []
    fast_training(mnist, monkeypatch, calls)
    train, test = load_mnist(mnist_root, train=True), load_mnist(mnist_root, train=False)
    no_release = tmp_path / "no_release"
    load_or_train_classifier(cache, "ours", train, test, torch.device("cpu"), False, released=no_release)
    path = cache / CLASSIFIERS["ours"][0]
    if how == "no numeric score":  # good weights
        torch.save({**torch.load(path, weights_only=True), "test_accuracy": "abc"}, path)
    else:
        damage(path, how)
    capsys.readouterr()
    _, acc = load_or_train_classifier(cache, "ours", train, test, torch.device("cpu"), False, released=no_release)
    warning = one_line(capsys.readouterr().err)
    assert warning.startswith(f"warning: cache file {path} ") and warning.endswith("; rebuilding it")
    assert len(calls) == 2 and 0 <= acc <= 1
    assert set(torch.load(path, weights_only=True)) == {"model", "test_accuracy"}  # a good cache again


@pytest.mark.parametrize("how", ["truncated", "another dict"])  # random bytes: a one-line error already
def test_a_damaged_released_classifier_is_a_one_line_error(how, mnist_root, tmp_path):
    released = tmp_path / "released"
    file = CLASSIFIERS["ours"][0]
    released.mkdir()
    shutil.copy(mnist.RELEASED_CLASSIFIERS / file, released / file)
    damage(released / file, how)
    train, test = load_mnist(mnist_root, train=True), load_mnist(mnist_root, train=False)
    with pytest.raises(UserError) as info:
        load_or_train_classifier(tmp_path / "cache", "ours", train, test, torch.device("cpu"), False, released=released)
    assert str(info.value).startswith(f"checkpoint {released / file} ")
    assert str(info.value).endswith(f"restore it with `git checkout -- {released / file}`")


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_scogan_classifier_cache_is_trained_again(how, mnist_root, tmp_path, monkeypatch, capsys):
    calls = []
    fast_training(coupling, monkeypatch, calls)
    images, labels = load_mnist(mnist_root, train=True)
    coupling.coupling_classifier(tmp_path, images, labels, torch.device("cpu"), progress=False)
    damage(tmp_path / coupling.COUPLING_CLASSIFIER, how)
    capsys.readouterr()
    coupling.coupling_classifier(tmp_path, images, labels, torch.device("cpu"), progress=False)
    assert f"warning: cache file {tmp_path / coupling.COUPLING_CLASSIFIER} " in one_line(capsys.readouterr().err)
    assert len(calls) == 2


@pytest.mark.parametrize("images", ["abc", torch.zeros(2, 4, 8, 8, dtype=torch.uint8)])
def test_a_decoded_image_cache_of_other_images_is_decoded_again(images, tmp_path, capsys):
    root = write_pix2pix(tmp_path / "data", "edges2shoes", n_train=3, n_val=2, half=8)
    fresh, names = load_split(root, "edges2shoes", "train", 8, tmp_path / "cache", progress=False)
    path = tmp_path / "cache" / "edges2shoes_train_8px.pt"
    torch.save({"images": images, "files": names}, path)  # the right file names, not their images
    assert torch.equal(load_split(root, "edges2shoes", "train", 8, tmp_path / "cache", progress=False)[0], fresh)
    assert "holds no uint8 images of shape (3, 4, 8, 8)" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_decoded_image_cache_is_decoded_again(how, tmp_path, capsys):
    root = write_pix2pix(tmp_path / "data", "edges2shoes", n_train=3, n_val=2, half=8)
    fresh, names = load_split(root, "edges2shoes", "train", 8, tmp_path / "cache", progress=False)
    path = tmp_path / "cache" / "edges2shoes_train_8px.pt"
    damage(path, how)
    again, again_names = load_split(root, "edges2shoes", "train", 8, tmp_path / "cache", progress=False)
    assert torch.equal(fresh, again) and names == again_names
    assert one_line(capsys.readouterr().err).startswith(f"warning: cache file {path} ")
    # own folders' per-file cache: the same
    folder = tmp_path / "data" / "edges2shoes" / "val"
    load_part(folder, 8, 3, tmp_path / "own_cache", progress=False)
    (cache,) = (tmp_path / "own_cache").glob("*.pt")
    damage(cache, how)
    load_part(folder, 8, 3, tmp_path / "own_cache", progress=False)
    assert one_line(capsys.readouterr().err).startswith(f"warning: cache file {cache} ")


def test_a_cache_of_another_kind_is_rebuilt(tmp_path, capsys):
    save_atomic({"name": "x"}, tmp_path / "songs.pt")  # the spectrogram cache is a list
    assert load_cache(tmp_path / "songs.pt", kind=list) is None
    assert "holds a dict, not a list" in one_line(capsys.readouterr().err)
    assert load_cache(tmp_path / "none.pt") is None and capsys.readouterr().err == ""  # no file: nothing to say


def test_mnist_labels_of_other_images_are_a_one_line_error(tmp_path):
    root = write_fake_mnist(tmp_path / "data", n_train=30, n_test=10)
    other = write_fake_mnist(tmp_path / "other", n_train=20, n_test=10)
    labels = "MNIST/raw/train-labels-idx1-ubyte"
    shutil.copy(other / labels, root / labels)  # a valid IDX file, of 20 labels for 30 images
    with pytest.raises(UserError, match="has 30 images but 20 labels"):
        load_mnist(root, train=True)


def test_a_damaged_mnist_archive_is_named_not_called_missing(tmp_path, monkeypatch):
    root = write_fake_mnist(tmp_path / "data", n_train=30, n_test=10)
    labels = root / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.with_suffix(".gz").write_bytes(b"\x1f\x8b broken")
    labels.unlink()

    def offline(*args, **kwargs):  # torchvision, offline, when an archive does not unpack
        raise RuntimeError("Error downloading train-labels-idx1-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(UserError, match=r"archives there \(train-labels-idx1-ubyte.gz\) failed \(RuntimeError"):
        load_mnist(root, train=True)


def test_a_truncated_mnist_file_is_called_corrupt_not_missing(mnist_root, tmp_path):
    root = write_fake_mnist(tmp_path / "data", n_train=30, n_test=10)
    images = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(UserError) as info:
        load_mnist(root, train=True)
    msg = str(info.value)
    assert msg.startswith(f"MNIST file {images} is truncated or corrupt (")
    assert "python -m datasets.download mnist" in msg
    assert load_mnist(root, train=False)[0].shape == (10, 28, 28)  # the intact test files still load


# -- a generator of another experiment ---------------------------------------------------------------------


def _mnist_args(mnist_root, out, *extra):
    return ["--data_root", str(mnist_root), "--out_path", str(out), "--cache_dir", str(out / "cache"),
            "--eval_samples", "50", "--no_progress", "--batchSize", "4", "--epochs", "1", "--epoch_iter", "2",
            "--num_joint_samples", "10", *extra]


def _pix_args(root, out, *extra):
    return ["--data_root", str(root), "--out_path", str(out), "--cache_dir", str(out / "cache"),
            "--loadSize", "16", "--generator_channels", "4", "--disc_channels", "4", "--ls_channels", "4",
            "--ls_runs", "1", "--ls_epochs", "1", "--num_generated", "2", "--batchSize", "4", "--epochs", "1",
            "--epoch_iter", "2", "--no_progress", "--fid", "0", "--num_joint_samples", "3", *extra]


@pytest.fixture(scope="module")
def generators(mnist_root, tmp_path_factory):
    """A PairedMNIST and an ImagePairs run stopped after one update (G.pt written), and pix2pix data."""
    out = tmp_path_factory.mktemp("runs")
    pix = write_pix2pix(tmp_path_factory.mktemp("pix"), "edges2shoes", n_train=6, n_val=5)
    assert main(PairedMNIST(), _mnist_args(mnist_root, out, "--experiment_name", "m", "--max_steps", "1")) == 0
    assert main(ImagePairs(), _pix_args(pix, out, "--experiment_name", "i", "--max_steps", "1")) == 0
    return {"PairedMNIST": out / "PairedMNIST" / "m" / "checkpoints" / "G.pt",
            "ImagePairs": out / "ImagePairs" / "i" / "checkpoints" / "G.pt", "pix": pix, "out": out}


@pytest.mark.parametrize(("trained_by", "evaluated_by"), [("ImagePairs", PairedMNIST), ("PairedMNIST", ImagePairs),
                                                          ("PairedMNIST", Image2Image)])
def test_a_generator_of_another_task_is_one_line(trained_by, evaluated_by, generators, mnist_root, tmp_path, capsys):
    g = generators[trained_by]
    args = ["--data_root", str(mnist_root), "--out_path", str(tmp_path), "--eval", "--generator", str(g)]
    assert main(evaluated_by(), args) == 2
    assert one_line(capsys.readouterr().err) == (
        f"error: {g} is a generator of {trained_by}, not of {evaluated_by.task}: evaluate it with "
        f"`python {trained_by}.py --eval --generator {g}`")


def test_a_released_generator_without_its_manifest_is_checked_by_shape(generators, mnist_root, tmp_path, capsys):
    """No record of its task: the tensors of the file and of the model built from its options differ."""
    run = generators["PairedMNIST"].parent.parent
    options = json.loads((run / "config.json").read_text())
    g = tmp_path / "m.pt"  # a released file (generator and options, see analysis.release) copied alone
    save_atomic({"generator": torch.load(run / "checkpoints" / "G.pt")["generator"], "options": options}, g)
    capsys.readouterr()
    assert main(ImagePairs(), _pix_args(generators["pix"], tmp_path, "--eval", "--generator", str(g))) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"error: the generator in {g} does not fit the ImagePairs generator built from its options (")
    assert "tensors differ, e.g. " in err and "another experiment" in err
    # the same task, with a model option changed on the command line
    assert main(PairedMNIST(), _mnist_args(mnist_root, tmp_path, "--eval", "--generator", str(g), "--nz", "7")) == 2
    assert "does not fit the PairedMNIST generator" in one_line(capsys.readouterr().err)


# -- options and inputs checked before the first update -----------------------------------------------------


def _parse(experiment, *argv: str) -> argparse.Namespace:
    return build_parser("", experiment.add_options).parse_args(list(argv))


@pytest.mark.parametrize("steps", ["0", "-3"])
def test_max_steps_must_be_positive(steps):
    with pytest.raises(UserError) as info:
        check_options(_parse(PairedMNIST(), "--max_steps", steps))
    assert str(info.value) == f"--max_steps must be at least 1 (leave it out for no limit), got {steps}"


@pytest.mark.parametrize(("experiment", "flag"), [
    (ImagePairs, "--generator_channels"), (ImagePairs, "--disc_channels"), (ImagePairs, "--ls_channels"),
    (ImagePairs, "--ls_runs"), (Image2Image, "--generator_channels"), (Image2Image, "--disc_channels"),
    (AudioSeparation, "--generator_channels"), (AudioSeparation, "--disc_channels")])
def test_widths_must_be_at_least_one(experiment, flag, tmp_path, capsys):
    assert main(experiment(), ["--data_root", str(tmp_path), "--out_path", str(tmp_path), flag, "0"]) == 2
    assert one_line(capsys.readouterr().err) == f"error: {flag} must be at least 1, got 0"


def _side_by_side(folder: Path, n: int, grey_a: bool, grey_b: bool) -> Path:
    """n images of 24x12: A | B, each half grey (R = G = B) or colour."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 256, (12, 24, 3), dtype=np.uint8)
        for grey, half in ((grey_a, slice(0, 12)), (grey_b, slice(12, 24))):
            if grey:
                img[:, half] = img[:, half, :1]
        Image.fromarray(img).save(folder / f"{i}.png")
    return folder


def _own_args(pairs: Path, out: Path, *extra: str) -> list[str]:
    return ["--pairs", str(pairs), "--out_path", str(out), "--cache_dir", str(out / "cache"), "--loadSize", "16",
            "--generator_channels", "4", "--disc_channels", "4", "--batchSize", "4", "--epochs", "1",
            "--epoch_iter", "2", "--no_progress", "--num_joint_samples", "4", "--fid", "0", *extra]


def test_grey_images_read_as_rgb_are_reported(tmp_path, capsys):
    pairs = _side_by_side(tmp_path / "pairs", 4, grey_a=True, grey_b=False)
    ImagePairs().build(_parse(ImagePairs(), *_own_args(pairs, tmp_path)), torch.device("cpu"))
    assert one_line(capsys.readouterr().err) == (
        "note: part A holds only grey images, but --channels 3 3 reads it as RGB (R = G = B); --channels 1 3 "
        "trains it as grey")
    ImagePairs().build(_parse(ImagePairs(), *_own_args(pairs, tmp_path, "--channels", "1", "3")),
                       torch.device("cpu"))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("experiment", [ImagePairs, Image2Image])
def test_a_bad_val_pairs_folder_fails_before_training(experiment, tmp_path, capsys):
    pairs = _side_by_side(tmp_path / "pairs", 4, grey_a=False, grey_b=False)
    args = _own_args(pairs, tmp_path, "--val_pairs", str(tmp_path / "no_such_folder"), "--experiment_name", "x")
    assert main(experiment(), args) == 2
    assert one_line(capsys.readouterr().err) == f"error: image folder {tmp_path / 'no_such_folder'} not found; check the path"
    assert not (tmp_path / experiment.task).exists()  # nothing trained, nothing written


def test_a_bad_mnist_test_file_fails_before_training(tmp_path, capsys):
    root = write_fake_mnist(tmp_path / "data", n_train=30, n_test=10)
    labels = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1])
    assert main(PairedMNIST(), _mnist_args(root, tmp_path, "--experiment_name", "x")) == 2
    assert one_line(capsys.readouterr().err).startswith(f"error: MNIST file {labels} is truncated or corrupt")
    assert not (tmp_path / "PairedMNIST").exists()  # found before training, not after it


def test_cyclegan_identity_loss_needs_equal_channels(tmp_path, capsys):
    pairs = _side_by_side(tmp_path / "pairs", 4, grey_a=False, grey_b=True)
    args = _own_args(pairs, tmp_path, "--model", "cyclegan", "--channels", "3", "1")
    assert main(Image2Image(), args) == 2
    assert one_line(capsys.readouterr().err) == (
        "error: CycleGAN's identity loss needs the same channel count in both parts, not 3 and 1 (--channels): "
        "give --identity_weight 0, or equal --channels")
    setup, _ = Image2Image().build(_parse(Image2Image(), *args, "--identity_weight", "0"), torch.device("cpu"))
    assert [type(t).__name__ for t in setup.extra_losses] == ["CycleConsistency"]


# -- where things are written ------------------------------------------------------------------------------


def test_the_cache_is_outside_the_data_folder_unless_an_old_one_is_there(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    opts = _parse(PairedMNIST(), "--data_root", str(data), "--out_path", str(out))
    assert cache_dir(opts) == out / "cache"
    (data / "cache").mkdir(parents=True)  # made by an older version: still used
    assert cache_dir(opts) == data / "cache"
    (out / "cache").mkdir(parents=True)
    assert cache_dir(opts) == out / "cache"
    assert cache_dir(_parse(PairedMNIST(), "--cache_dir", str(tmp_path / "c"))) == tmp_path / "c"


def test_figures_land_under_out_path_by_default(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert fig2_image_pairs.main(["--out_path", str(tmp_path / "runs")]) == 0
    assert (tmp_path / "runs" / "figures" / "fig2_image_pairs.png").is_file()
    assert not (elsewhere / "figures" / "fig2_image_pairs.png").exists()
    assert fig2_image_pairs.main(["--out_path", str(tmp_path), "--output", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f.png").is_file()  # --output still chooses
