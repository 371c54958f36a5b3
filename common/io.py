"""Checkpoint and cache files: written atomically, read with one-line errors.

A crash while writing never destroys the last good file; a checkpoint that is
missing, truncated, corrupt or of another kind raises a ``UserError`` naming it
and saying what to do, instead of torch's traceback. A damaged cache (something
the program can rebuild) is reported in one warning line and rebuilt.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from common.errors import UserError

# what torch.load raises on a truncated, empty or garbled file (a cut-off zip: OSError, errno 22)
_DAMAGED = (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile)


class _Damaged(Exception):
    """A file that cannot be used; its text completes "FILE ...", e.g. "holds no 'model'"."""


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
                    damaged: str = "delete it to start over, or restore a good copy",
                    keys: Collection[str] = ()) -> dict[str, Any]:
    """Load a dict written by save_atomic onto device.

    missing, damaged: what the user should do when the file is absent, or
    cannot be used (cut short by a full disk, a copy that broke off, not a dict,
    or without one of keys); either case raises a one-line UserError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}: {missing}")
    try:
        return _read(path, device, keys, dict, weights_only=False)
    except _Damaged as err:
        raise UserError(f"checkpoint {path} {err}: {damaged}") from None


def load_cache(path: Path, keys: Collection[str] = (), kind: type = dict) -> Any | None:
    """The object cached at path, or None to rebuild it: when there is no file,
    or (after one warning line naming the file) when it is damaged, is not a
    `kind` or (a dict) lacks one of keys. Caches hold tensors and plain
    containers only (torch.load with weights_only), loaded onto the CPU."""
    if not path.is_file():
        return None
    try:
        return _read(path, "cpu", keys, kind, weights_only=True)
    except _Damaged as err:
        warn_rebuilt(path, str(err))
        return None


def warn_rebuilt(path: Path, problem: str) -> None:
    """The one line that says a cache file is unusable and is made again."""
    print(f"warning: cache file {path} {problem}; rebuilding it", file=sys.stderr, flush=True)


def _read(path: Path, device: torch.device | str, keys: Collection[str], kind: type, weights_only: bool) -> Any:
    """torch.load(path), checked to be a `kind` (with keys, for a dict); _Damaged if not."""
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of garbled files
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location=device, weights_only=weights_only)
    except _DAMAGED as err:
        raise _Damaged(f"is truncated or corrupt ({_summary(err)})") from None
    if not isinstance(obj, kind):
        raise _Damaged(f"holds a {type(obj).__name__}, not a {kind.__name__} (a file of another kind?)")
    absent = [key for key in keys if key not in obj]
    if absent:
        raise _Damaged(f"holds no {absent[0]!r} (a file of another kind?)")
    return obj


def _summary(err: BaseException, limit: int = 100) -> str:
    """'Type: first sentence of the message', at most limit characters."""
    first = str(err).strip().split("\n")[0].split(". ")[0].rstrip(".")
    text = f"{type(err).__name__}: {first}" if first else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
