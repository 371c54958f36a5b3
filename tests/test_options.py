"""check_options: impossible optimiser settings are one-line errors before anything runs."""

from __future__ import annotations

import pytest

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
])
def test_bad_optimiser_settings(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(UserError) as info:
        _check(*argv)
    assert str(info.value) == message


def test_edge_values_are_accepted() -> None:
    _check("--lr", "1e-8", "--L2", "0", "--beta1", "0")
    _check("--beta1", "0.999")
