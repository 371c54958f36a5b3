"""analysis.sample: samples of saved generators as uint8 arrays (CPU, offline)."""

import numpy as np
import pytest
import torch

import ImagePairs
import PairedMNIST
from analysis import sample
from common.io import save_atomic
from Image2Image import Image2Image
from training.options import build_parser


def _options(experiment, *argv):
    return vars(build_parser("", experiment.add_options).parse_args(list(argv)))


def _save(path, generator, options):
    save_atomic({"generator": generator.state_dict(), "step": 3, "options": options}, path)
    return path


@pytest.mark.parametrize("flags, parts", [(["--factorGAN", "1"], 2), (["--model", "cogan"], 2),
                                          (["--layout", "2x2", "--factorGAN", "1", "--factorisation", "hierarchical"], 4)])
def test_paired_mnist_generators_give_digits(flags, parts, tmp_path):
    options = _options(PairedMNIST.PairedMNIST(), *flags)
    torch.manual_seed(0)
    generator = PairedMNIST.generator_setup(build_parser("", PairedMNIST.PairedMNIST().add_options).parse_args(flags),
                                            torch.device("cpu")).generator
    path = _save(tmp_path / "G.pt", generator, options)
    out = tmp_path / "s.npz"
    assert sample.main(["--generator", str(path), "--n", "7", "--out", str(out), "--seed", "2"]) == 0
    samples = np.load(out)["samples"]
    assert samples.dtype == np.uint8 and samples.shape == (7, parts, 28, 28)
    with torch.no_grad():  # the generator's own outputs, scaled to 0..255
        z = torch.rand(7, 50, generator=torch.Generator().manual_seed(2)) * 2 - 1
        expected = (generator(z).clamp(0, 1) * 255).round().reshape(7, parts, 28, 28)
    assert np.array_equal(samples, expected.to(torch.uint8).numpy())


def test_image_pairs_generators_give_images(tmp_path):
    flags = ["--factorGAN", "1", "--loadSize", "16", "--generator_channels", "4"]
    opts = build_parser("", ImagePairs.ImagePairs().add_options).parse_args(flags)
    generator = ImagePairs.ConvGenerator(opts.nz, 4, 16, 4)  # edges2shoes: 1 + 3 channels
    path = _save(tmp_path / "G.pt", generator, vars(opts))
    samples = sample.sample_file(path, 5)
    assert samples.dtype == np.uint8 and samples.shape == (5, 4, 16, 16)


def test_conditional_generators_and_missing_files_are_refused_in_one_line(tmp_path, capsys):
    path = _save(tmp_path / "G.pt", torch.nn.Linear(1, 1), _options(Image2Image()))
    assert sample.main(["--generator", str(path), "--n", "2", "--out", str(tmp_path / "s.npz"),
                        "--task", "Image2Image"]) == 2
    err = capsys.readouterr().err
    assert "conditional" in err and "Image2Image.py --eval --generator" in err and err.count("\n") == 1
    assert sample.main(["--generator", str(tmp_path / "none.pt"), "--n", "2", "--out", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no checkpoint at") and err.count("\n") == 1
    assert not (tmp_path / "s.npz").exists()
