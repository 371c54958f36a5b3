"""common.io: atomic saves, and one-line errors for missing or damaged files."""

from __future__ import annotations

import re

import pytest
import torch

from common.errors import UserError
from common.io import load_checkpoint, save_atomic


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    save_atomic({"w": torch.arange(3), "step": 2}, path)
    state = load_checkpoint(path)
    assert state["step"] == 2 and torch.equal(state["w"], torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["x.pt"]  # no temporary file left


@pytest.mark.parametrize("damage", ["half", "empty", "garbage"])
def test_damaged_file_is_a_one_line_user_error(damage, tmp_path):
    path = tmp_path / "last.pt"
    save_atomic({"w": torch.zeros(1000)}, path)
    data = path.read_bytes()
    path.write_bytes({"half": data[: len(data) // 2], "empty": b"", "garbage": b"not a checkpoint" * 8}[damage])
    with pytest.raises(UserError) as info:
        load_checkpoint(path, damaged="do this")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"checkpoint {path} is truncated or corrupt (") and msg.endswith("): do this")


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "G.pt"
    with pytest.raises(UserError, match=f"^{re.escape(f'no checkpoint at {path}: check it')}$"):
        load_checkpoint(path, missing="check it")
