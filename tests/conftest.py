"""Shared fixtures: a tiny synthetic MNIST in torchvision's raw IDX layout;
no Inception download (the image runs' FID/KID stay offline)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eval import image_fid

torch.set_num_threads(1)


def _no_download(path: Path) -> None:
    raise OSError("tests run offline")


@pytest.fixture(autouse=True)
def offline_inception(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never fetch Inception's weights: an empty torch hub cache and a
    failing download, so image runs print the one offline line and skip FID/KID
    (tests that score FID/KID inject a tiny feature extractor)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
    monkeypatch.setattr(image_fid, "download_inception", _no_download)


def _write_idx(path: Path, array: np.ndarray) -> None:
    magic = 0x0803 if array.ndim == 3 else 0x0801
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def _fake_digits(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each class is a bright bar at its own position plus noise: easy to classify."""
    images = rng.integers(0, 40, size=(len(labels), 28, 28))
    for i, c in enumerate(labels):
        images[i, 2 + 2 * c: 5 + 2 * c, 4:24] = 255
    return images


def write_fake_mnist(root: Path, n_train: int = 600, n_test: int = 200, seed: int = 0) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=n)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", _fake_digits(labels, rng))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_mnist(tmp_path_factory.mktemp("data"))


def write_pix2pix(root: Path, name: str, n_train: int = 12, n_val: int = 10, half: int = 24, seed: int = 0) -> Path:
    """A pix2pix-format folder of random side-by-side JPEGs (A | B)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        folder = root / name / split
        folder.mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, size=(half, 2 * half, 3), dtype=np.uint8)
            img[:, :half] = img[:, :half] // 2  # left half darker than right
            Image.fromarray(img).save(folder / f"{i + 1}.jpg", quality=95)
    return root
