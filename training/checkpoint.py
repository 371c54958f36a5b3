"""Atomic checkpoint files: a crash while writing never destroys the last good one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from training.options import UserError


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename over path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by save_atomic, with a clear error if it is missing."""
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}: train the run first, or check "
                        "--out_path, --experiment_name and --eval_model")
    return torch.load(path, map_location=device, weights_only=False)
