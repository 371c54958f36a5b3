"""ImagePairs and Image2Image on a user's own folders: pairs plus parts seen alone."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from Image2Image import Image2Image
from ImagePairs import ImagePairs
from tests.conftest import write_pix2pix
from training.options import build_parser
from training.runner import main


def _write_part(folder, n, size=(20, 12), seed=0, grey=False):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size[1], size[0]) if grey else (size[1], size[0], 3)
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(folder / f"alone{i}.png")
    return folder


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    write_pix2pix(root, "mine", n_train=6, n_val=10)  # side-by-side pairs, 24x24 halves
    _write_part(root / "a_alone", 5, seed=1)
    _write_part(root / "b_alone", 3, size=(9, 30), seed=2)
    return root


def _args(own, out, *extra):
    return ["--pairs", str(own / "mine" / "train"), "--part_a", str(own / "a_alone"), "--part_b",
            str(own / "b_alone"), "--out_path", str(out), "--cache_dir", str(out / "cache"), "--loadSize", "16",
            "--generator_channels", "4", "--disc_channels", "4", "--batchSize", "4", "--epochs", "1",
            "--epoch_iter", "2", "--no_progress", "--num_joint_samples", "4", "--fid", "0", *extra]


def test_parts_seen_alone_get_pools_of_their_own(own, tmp_path):
    opts = build_parser("", ImagePairs().add_options).parse_args(_args(own, tmp_path, "--factorGAN", "1"))
    setup, split = ImagePairs().build(opts, torch.device("cpu"))
    assert len(setup.pools["A"]) == 6 + 5 and len(setup.pools["B"]) == 6 + 3  # every observed A, every B
    assert setup.pools["A"].data.shape[1:] == (3, 16, 16) and len(setup.pools["p_dep"]) == 4
    assert split["a_alone"] == 5 and split["b_alone"] == 3 and split["num_joint_samples"] == 4


def test_image_pairs_trains_and_evaluates_on_own_folders(own, tmp_path):
    extra = ["--factorGAN", "1", "--val_pairs", str(own / "mine" / "val"), "--ls_runs", "1", "--ls_epochs", "1",
             "--num_generated", "2", "--experiment_name", "o"]
    assert main(ImagePairs(), _args(own, tmp_path, *extra)) == 0
    results = json.loads((tmp_path / "ImagePairs" / "o" / "results.json").read_text())
    assert results["dataset"] == "own folders" and results["model"] == "FactorGAN" and len(results["ls_runs"]) == 1


def test_without_val_pairs_only_samples_are_written(own, tmp_path, capsys):
    assert main(ImagePairs(), _args(own, tmp_path, "--num_generated", "2", "--experiment_name", "n")) == 0
    assert "no --val_pairs" in capsys.readouterr().out
    assert (tmp_path / "ImagePairs" / "n" / "samples").is_dir()


def test_image2image_trains_on_own_folders(own, tmp_path):
    extra = ["--factorGAN", "1", "--val_pairs", str(own / "mine" / "val"), "--num_examples", "2",
             "--experiment_name", "i"]
    assert main(Image2Image(), _args(own, tmp_path, *extra)) == 0
    results = json.loads((tmp_path / "Image2Image" / "i" / "results.json").read_text())
    assert results["model"] == "FactorGAN" and results["mse"] >= 0 and "mean_iou" not in results


@pytest.mark.parametrize("experiment", [ImagePairs, Image2Image])
def test_folder_mistakes_are_one_line_errors(experiment, own, tmp_path, capsys):
    def error(argv):
        assert main(experiment(), argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        return lines[0]

    common = ["--out_path", str(tmp_path), "--loadSize", "16"]
    assert "--part_a needs --pairs" in error(["--part_a", str(own / "a_alone"), *common])
    grey = _write_part(tmp_path / f"grey_{experiment.__name__}", 1, grey=False)
    msg = error(_args(own, tmp_path, "--part_a", str(grey), "--channels", "1", "3"))
    assert "is a colour image" in msg and "grey" in msg
    assert not (tmp_path / experiment.task).exists()  # nothing written


def test_cyclegan_translates_between_parts_of_different_channel_counts(tmp_path):
    # grey photos, RGB maps: the map -> photo translator reads 3 channels and writes 1 (it was built 1 -> 3)
    for folder, grey in (("a", True), ("b", False)):
        _write_part(tmp_path / folder, 6, size=(16, 16), seed=int(grey), grey=grey)
    args = ["--pairs", str(tmp_path / "a"), str(tmp_path / "b"), "--channels", "1", "3", "--model", "cyclegan",
            "--identity_weight", "0", "--out_path", str(tmp_path), "--cache_dir", str(tmp_path / "cache"),
            "--loadSize", "16", "--generator_channels", "4", "--disc_channels", "4", "--batchSize", "4",
            "--epochs", "1", "--epoch_iter", "2", "--no_progress", "--num_joint_samples", "4", "--num_examples", "2"]
    opts = build_parser("", Image2Image().add_options).parse_args(args)
    setup, _ = Image2Image().build(opts, torch.device("cpu"))
    photos, maps, z = setup.inputs.sample(4, torch.Generator().manual_seed(1))
    assert (photos.shape[1], maps.shape[1]) == (1, 3) and setup.generator(photos, maps, z).shape[1] == 4
    assert main(Image2Image(), [*args, "--experiment_name", "c"]) == 0
