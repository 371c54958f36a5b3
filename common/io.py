"""Checkpoint and cache files: written atomically, read with one-line errors.

A crash while writing never destroys the last good file; a file that is
missing, truncated or corrupt raises a ``UserError`` naming it and saying what
to do, instead of torch's traceback.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from common.errors import UserError

# what torch.load raises on a truncated, empty or garbled file
_DAMAGED = (RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile)


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


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu", missing: str = "check the path",
                    damaged: str = "delete it to start over, or restore a good copy") -> dict[str, Any]:
    """Load a file written by save_atomic onto device.

    missing, damaged: what the user should do when the file is absent, or
    cannot be read (cut short by a full disk, a copy that broke off, ...);
    either case raises a one-line UserError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}: {missing}")
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except _DAMAGED as err:
        raise UserError(f"checkpoint {path} is truncated or corrupt ({_summary(err)}): {damaged}") from None


def _summary(err: BaseException, limit: int = 100) -> str:
    """'Type: first sentence of the message', at most limit characters."""
    first = str(err).strip().split("\n")[0].split(". ")[0].rstrip(".")
    text = f"{type(err).__name__}: {first}" if first else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
