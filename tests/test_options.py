"""check_options: impossible optimiser settings are one-line errors before anything runs."""

from __future__ import annotations

import urllib.error

import pytest

from datasets import download
from training.options import UserError, build_parser, check_options


def _check(*argv: str) -> None:
    check_options(build_parser("", lambda group: None).parse_args(list(argv)))


@pytest.mark.parametrize(("argv", "message"), [
    (("--lr", "0"), "--lr must be positive, got 0.0"),
    (("--lr=-1e-4",), "--lr must be positive, got -0.0001"),
    (("--lr", "nan"), "--lr must be positive, got nan"),
    (("--L2", "-0.1"), "--L2 must be 0 or positive, got -0.1"),
    (("--beta1", "1"), "--beta1 must be in [0, 1), got 1.0"),
    (("--beta1", "-0.5"), "--beta1 must be in [0, 1), got -0.5"),
    (("--marginal_lr_factor", "0"), "--marginal_lr_factor must be positive (1: off), got 0.0"),
    (("--marginal_lr_factor", "nan"), "--marginal_lr_factor must be positive (1: off), got nan"),
])
def test_bad_optimiser_settings(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(UserError) as info:
        _check(*argv)
    assert str(info.value) == message


def test_edge_values_are_accepted() -> None:
    _check("--lr", "1e-8", "--L2", "0", "--beta1", "0")
    _check("--beta1", "0.999")


def test_data_lands_outside_the_source_tree() -> None:
    default = build_parser("", lambda group: None).get_default("data_root")
    assert default == download.DEFAULT_DATA_ROOT == "data"


def test_offline_mnist_download_says_where_to_put_the_files(tmp_path, monkeypatch, capsys) -> None:
    from torchvision.datasets import MNIST

    def offline(self: MNIST) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(MNIST, "download", offline)
    assert download.main(["mnist", "--data_root", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert f"place the files by hand as {tmp_path / 'data'}/MNIST/raw/" in err
