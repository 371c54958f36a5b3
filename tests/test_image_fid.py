"""FID/KID of image pairs (torch-fidelity's formulas) with a tiny injected feature extractor."""

import csv
import json

import pytest
import torch

import tests.test_image2image as i2i
import tests.test_image_pairs as ip
from eval import image_fid
from eval.image_fid import PairLayout, fid_kid, load_inception, pair_fid_kid, pair_views
from Image2Image import Image2Image
from ImagePairs import ImagePairs
from tests.conftest import write_pix2pix
from training.runner import main


def half_means(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 6): each channel's mean over the left and the right half.
    On a side-by-side pair that is one image's colour beside the other's."""
    x = images.float() / 255
    w = x.shape[-1] // 2
    return torch.cat([x[..., :w].mean((2, 3)), x[..., w:].mean((2, 3))], dim=1)


def _pairs(n: int, seed: int) -> torch.Tensor:
    """(n, 4, 8, 8) uint8 pairs: a grey image A whose brightness b the colour image B repeats (plus noise)."""
    g = torch.Generator().manual_seed(seed)
    b = torch.rand(n, 1, 1, 1, generator=g)
    a = b.expand(n, 1, 8, 8) + 0.05 * torch.randn(n, 1, 8, 8, generator=g)
    colour = b.expand(n, 3, 8, 8) * torch.tensor([1.0, 0.5, 0.2]).view(1, 3, 1, 1)
    return torch.cat([a, colour + 0.05 * torch.randn(n, 3, 8, 8, generator=g)], 1).clamp(0, 1).mul(255).byte()


def test_pair_views_shapes():
    views = pair_views(torch.rand(2, 4, 8, 8), PairLayout(1, ("A", "B"), ()))
    assert views["A"].shape == (2, 1, 8, 8) and views["B"].shape == (2, 3, 8, 8)
    assert views["joint"].shape == (2, 3, 8, 16)


def test_fid_closed_form_and_kid_near_zero_for_the_same_distribution():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 3, generator=g)
    same = fid_kid(real, real)
    assert abs(same["fid"]) < 1e-4
    shifted = fid_kid(real, real + torch.tensor([1.0, 2.0, 0.0]))
    assert shifted["fid"] == pytest.approx(5.0, abs=1e-3)  # equal covariances: |d|^2
    other = fid_kid(real, torch.randn(400, 3, generator=g))  # a second sample of the same distribution
    assert other["fid"] < 0.1 and abs(other["kid"]) < 0.01 * shifted["kid"]


def test_joint_fid_rises_when_real_pairs_are_paired_at_random():
    real, fake = _pairs(300, seed=0), _pairs(300, seed=1)
    shuffled = fake.clone()
    shuffled[:, 1:] = fake[torch.randperm(300, generator=torch.Generator().manual_seed(2)), 1:]
    layout = PairLayout(1, ("A", "B"), ("A", "B", "joint"))
    paired = pair_fid_kid(half_means, real, fake, layout)
    random = pair_fid_kid(half_means, real, shuffled, layout)
    for part in ("A", "B"):  # the same images: the parts' scores cannot see the pairing
        for metric in ("fid", "kid"):
            assert random[part][metric] == pytest.approx(paired[part][metric], rel=1e-4)
    assert random["joint"]["fid"] > 10 * paired["joint"]["fid"] + 0.01, (paired["joint"], random["joint"])
    assert random["joint"]["kid"] > paired["joint"]["kid"]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    root = tmp_path_factory.mktemp("pix")
    write_pix2pix(root, "edges2shoes", seed=1)
    write_pix2pix(root, "cityscapes", n_train=10, n_val=6)
    return root


def _tiny_inception(monkeypatch):
    calls = []

    def fake_loader(weights, device):
        calls.append(weights)
        return half_means

    monkeypatch.setattr(image_fid, "load_inception", fake_loader)
    return calls


def test_image_pairs_writes_fid_kid_to_results_and_csv(roots, tmp_path, monkeypatch):
    _tiny_inception(monkeypatch)
    args = ip._args(roots, tmp_path, "--factorGAN", "1", "--experiment_name", "f", "--ls_runs", "1")
    assert main(ImagePairs(), args) == 0
    results = json.loads((tmp_path / "ImagePairs" / "f" / "results.json").read_text())
    assert set(results["fid_kid"]) == {"A", "B", "joint"} and results["fid_kid_images"] == 10
    assert all(torch.isfinite(torch.tensor(list(s.values()))).all() for s in results["fid_kid"].values())
    with open(tmp_path / "ImagePairs" / "FID_KID.csv") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0][:6] == ["View", "FID", "KID", "KID_std", "Model", "Samples"]
    assert [r[0] for r in rows[1:]] == ["A", "B", "joint"] and rows[1][4] == "FactorGAN"
    assert len(results["ls_runs"]) == 1  # the LS metric is unchanged beside it


def test_image2image_scores_the_maps_and_the_pairs(roots, tmp_path, monkeypatch):
    _tiny_inception(monkeypatch)
    assert main(Image2Image(), i2i._args(roots, tmp_path, "--factorGAN", "1", "--experiment_name", "m")) == 0
    results = json.loads((tmp_path / "Image2Image" / "m" / "results.json").read_text())
    assert set(results["fid_kid"]) == {"map", "joint"} and results["fid_kid_images"] == 6
    rows = (tmp_path / "Image2Image" / "FID_KID.csv").read_text().splitlines()
    assert rows[0].startswith("View,FID,KID,KID_std,Model,Paired samples") and len(rows) == 3


def test_offline_without_weights_prints_one_line_and_keeps_the_other_metrics(roots, tmp_path, capsys):
    args = ip._args(roots, tmp_path, "--experiment_name", "o", "--ls_runs", "1", "--epoch_iter", "1")
    assert main(ImagePairs(), args) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "FID/KID" in x]
    assert len(lines) == 1, lines
    assert "weights-inception-2015-12-05-6726825d.pth" in lines[0] and "--fid_weights" in lines[0]
    assert lines[0].count("https://") == 1
    results = json.loads((tmp_path / "ImagePairs" / "o" / "results.json").read_text())
    assert "fid_kid" not in results and len(results["ls_runs"]) == 1
    assert not (tmp_path / "ImagePairs" / "FID_KID.csv").exists()


def test_fid_0_skips_silently(roots, tmp_path, capsys, monkeypatch):
    calls = _tiny_inception(monkeypatch)
    args = ip._args(roots, tmp_path, "--experiment_name", "z", "--ls_runs", "1", "--epoch_iter", "1", "--fid", "0")
    assert main(ImagePairs(), args) == 0
    assert calls == [] and "FID/KID" not in capsys.readouterr().err


def test_weights_file_and_cache_are_used_without_download(tmp_path, monkeypatch):
    loaded = []
    monkeypatch.setattr(image_fid, "InceptionFeatures", lambda path, device: loaded.append(path) or half_means)
    given = tmp_path / "inception.pth"
    given.write_bytes(b"x")
    assert load_inception(str(given), torch.device("cpu")) is half_means and loaded == [given]
    cached = image_fid.inception_cache_file()  # under the test's own TORCH_HOME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert load_inception(None, torch.device("cpu")) is half_means and loaded[-1] == cached


def test_missing_weights_file_is_a_usage_error(roots, tmp_path):
    with pytest.raises(SystemExit):
        main(ImagePairs(), ip._args(roots, tmp_path, "--fid_weights", str(tmp_path / "nothing.pth")))


class _Named:
    """A named extractor (like Inception's): its real features may be cached."""

    name = "half_means"

    def __init__(self):
        self.images = 0

    def __call__(self, images):
        self.images += images.shape[0]
        return half_means(images)


def test_real_features_of_a_named_extractor_are_cached(tmp_path):
    real, fake = _pairs(20, seed=0), _pairs(20, seed=1)
    layout = PairLayout(1, ("A", "B"), ("B", "joint"))
    first, again = _Named(), _Named()
    a = pair_fid_kid(first, real, fake, layout, real_cache=tmp_path / "val")
    b = pair_fid_kid(again, real, fake, layout, real_cache=tmp_path / "val")
    assert (tmp_path / "val_half_means.pt").is_file()
    assert first.images == 2 * 2 * 20 and again.images == 2 * 20  # the second scores only the fakes
    assert a == b
