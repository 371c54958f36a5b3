"""Image2Image on a tiny synthetic Cityscapes folder (16x16 after resizing)."""

import csv
import json

import numpy as np
import pytest
import torch

from eval.cityscapes import CLASS_NAMES
from Image2Image import Image2Image
from ImagePairs import ImagePairs
from models.unet import ConditionalGenerator, UNet
from tests.conftest import write_pix2pix
from training.models_registry import model_flags
from training.options import build_parser
from training.runner import main


@pytest.fixture(scope="module")
def city_root(tmp_path_factory):
    return write_pix2pix(tmp_path_factory.mktemp("city"), "cityscapes", n_train=10, n_val=6)


def _args(root, out, *extra):
    return ["--data_root", str(root), "--out_path", str(out), "--cache_dir", str(out / "cache"),
            "--loadSize", "16", "--generator_channels", "4", "--disc_channels", "4", "--batchSize", "4",
            "--epochs", "1", "--epoch_iter", "3", "--num_examples", "4", "--no_progress", *extra]


def test_unet_returns_input_and_prediction():
    g = ConditionalGenerator(UNet(3, 3, nz=5, height=32, width=48, ngf=4))
    photo = torch.rand(2, 3, 32, 48)
    out = g(photo, torch.rand(2, 5))
    assert out.shape == (2, 6, 32, 48)
    assert torch.equal(out[:, :3], photo) and (out[:, 3:] >= 0).all() and (out[:, 3:] <= 1).all()


def test_unet_rejects_sizes_not_divisible_by_16():
    with pytest.raises(ValueError, match="divisible by 16"):
        UNet(3, 3, nz=5, height=24, width=32)


@pytest.mark.parametrize("model", ["GAN", "FactorGAN", "FactorGAN-no-cp"])  # baselines: test_baselines.py
def test_train_and_evaluate(city_root, tmp_path, model):
    assert main(Image2Image(), _args(city_root, tmp_path, *model_flags(model), "--num_joint_samples", "3",
                                     "--experiment_name", "r")) == 0
    results = json.loads((tmp_path / "Image2Image" / "r" / "results.json").read_text())
    assert results["model"] == model
    assert 0 <= results["accuracy"] <= 100 and np.isfinite(results["mse"])
    assert 0 <= results["mean_class_accuracy"] <= 100 and 0 <= results["mean_iou"] <= 100
    assert set(results["per_class"]) == set(CLASS_NAMES)
    assert all(set(c) == {"accuracy", "iou"} for c in results["per_class"].values())
    assert set(results["baselines"]) == {"prior (photo-blind)", "mean map (photo-blind)"}
    assert (tmp_path / "Image2Image" / "r" / "samples" / "val_examples.png").is_file()
    with open(tmp_path / "Image2Image" / "Image2Image_Cityscapes.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Paired samples", "Perf", "Model", "Metric", "Protocol", "Experiment"]
    assert {r[2] for r in rows[1:]} == {model, "prior (photo-blind)", "mean map (photo-blind)"}
    assert {(r[4], r[5]) for r in rows[1:]} == {("custom", "r")}
    ours = [r[3] for r in rows[1:] if r[2] == model]
    assert ours[:4] == ["MSE", "Accuracy", "mean class accuracy", "mean IoU"]
    ious = {r[3].removeprefix("IoU "): float(r[1]) for r in rows[1:] if r[2] == model and r[3].startswith("IoU ")}
    assert ious == {k: pytest.approx(c["iou"], abs=1e-5) for k, c in results["per_class"].items() if c["iou"] is not None}
    assert "val_subset" not in results


@pytest.mark.parametrize("factor", [0, 1])
def test_gan_sees_only_paired_photos_factorgan_all(city_root, tmp_path, factor):
    opts = build_parser("", Image2Image().add_options).parse_args(
        _args(city_root, tmp_path, "--factorGAN", str(factor), "--num_joint_samples", "3"))
    setup, split = Image2Image().build(opts, torch.device("cpu"))
    assert len(setup.inputs.pool) == (10 if factor else 3)
    assert split["paired_files"] == ["1.jpg", "10.jpg", "2.jpg"]
    assert setup.inputs.pool.data.shape[1] == 3  # photos only


def test_load_size_the_unet_cannot_take(city_root, tmp_path, capsys):
    assert main(Image2Image(), _args(city_root, tmp_path, "--loadSize", "24")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--loadSize 24" in err[0] and "64, 128 or 256" in err[0]


def test_eval_of_a_trained_checkpoint(city_root, tmp_path):
    args = _args(city_root, tmp_path, "--factorGAN", "1", "--num_joint_samples", "3", "--experiment_name", "e")
    assert main(Image2Image(), args) == 0
    first = json.loads((tmp_path / "Image2Image" / "e" / "results.json").read_text())
    assert main(Image2Image(), [*args, "--eval", "--eval_model", "G_epoch1"]) == 0
    again = json.loads((tmp_path / "Image2Image" / "e" / "results_G_epoch1.json").read_text())
    assert again["step"] == first["step"] == 3
    assert again["baselines"] == first["baselines"]


VAL_KEYS = {"val/pixel_accuracy", "val/mean_class_accuracy", "val/mean_iou", "val/mse"}


def test_eval_every_logs_val_scores_and_leaves_training_unchanged(city_root, tmp_path):
    common = ["--factorGAN", "1", "--num_joint_samples", "3", "--epoch_iter", "4", "--experiment_name", "v"]
    plain, scored = tmp_path / "plain", tmp_path / "scored"
    assert main(Image2Image(), _args(city_root, plain, *common)) == 0
    # scored every 2 updates, stopped at 3 and resumed without the flag: the saved value goes on
    assert main(Image2Image(), _args(city_root, scored, *common, "--eval_every", "2", "--eval_subset", "3",
                                     "--max_steps", "3")) == 0
    assert main(Image2Image(), _args(city_root, scored, *common, "--resume")) == 0
    a, b = (torch.load(p / "Image2Image" / "v" / "checkpoints" / "last.pt", weights_only=False)
            for p in (plain, scored))
    for part in ("generator", "discriminator"):
        for name, tensor in a[part].items():
            assert torch.equal(tensor, b[part][name]), (part, name)
    assert torch.equal(a["rng"], b["rng"]) and a["step"] == b["step"] == 4
    lines = [json.loads(x) for x in (scored / "Image2Image" / "v" / "metrics.jsonl").read_text().splitlines()]
    val = [x for x in lines if VAL_KEYS & set(x)]
    assert [x["step"] for x in val] == [2, 4] and all(VAL_KEYS <= set(x) for x in val)
    assert all(0 <= x["val/pixel_accuracy"] <= 100 and np.isfinite(x["val/mse"]) for x in val)
    plain_lines = (plain / "Image2Image" / "v" / "metrics.jsonl").read_text()
    assert "val/" not in plain_lines
    results = json.loads((scored / "Image2Image" / "v" / "results.json").read_text())
    assert results["val_subset"]["images"] == 3
    assert set(results["val_subset"]["baselines"]) == {"prior (photo-blind)", "mean map (photo-blind)"}
    # the generator on the curve's images at the end is the curve's last point
    final = results["val_subset"]["FactorGAN"]
    assert final["accuracy"] == val[-1]["val/pixel_accuracy"] and final["mse"] == val[-1]["val/mse"]


def test_same_val_scores_for_the_same_generator(city_root, tmp_path):
    opts = build_parser("", Image2Image().add_options).parse_args(
        _args(city_root, tmp_path, "--factorGAN", "1", "--eval_every", "1", "--eval_subset", "4"))
    experiment = Image2Image()
    setup, _ = experiment.build(opts, torch.device("cpu"))
    setup.generator.eval()
    first = experiment.periodic_scores(setup, opts)
    assert first == experiment.periodic_scores(setup, opts)  # fixed images and noise
    assert set(first) == {k.removeprefix("val/") for k in VAL_KEYS}


def test_eval_every_needs_periodic_scores(tmp_path, capsys):
    assert main(ImagePairs(), ["--out_path", str(tmp_path), "--eval_every", "5"]) == 2
    assert "--eval_every" in capsys.readouterr().err
