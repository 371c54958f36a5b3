"""Users' own image folders: layouts, channel rules, one-line errors and the per-file cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import datasets.image_folders as folders
from datasets.image_folders import load_pairs, load_part
from datasets.pix2pix import load_split
from tests.conftest import write_pix2pix
from training.options import UserError

RED, GREY, DARK = (200, 40, 10), (90, 90, 90), (30, 30, 30)


def solid(path: Path, colour: tuple[int, ...] | int, width: int = 10, height: int = 10, mode: str = "RGB") -> Path:
    """A one-colour image file (PNG keeps the colour exactly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height), colour).save(path)
    return path


def side_by_side(path: Path, a: tuple[int, int, int], b: tuple[int, int, int], half: int = 10) -> Path:
    """A pix2pix-format image: solid colour a on the left, b on the right."""
    img = np.zeros((half, 2 * half, 3), dtype=np.uint8)
    img[:, :half], img[:, half:] = a, b
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def error(call, *args, **kwargs) -> str:
    """The UserError message of call(*args, **kwargs), checked to be one line."""
    with pytest.raises(UserError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message, message
    return message


def count_decodes(monkeypatch) -> list[Path]:
    """Paths opened for decoding from now on."""
    opened: list[Path] = []
    real = folders.open_image

    def counting(path: Path) -> Image.Image:
        opened.append(path)
        return real(path)

    monkeypatch.setattr(folders, "open_image", counting)
    return opened


def colours(images: torch.Tensor) -> list[list[int]]:
    """(N, C, H, W) solid images -> their per-channel colour, checked to be uniform."""
    flat = images.flatten(2)
    assert (flat == flat[:, :, :1]).all()
    return flat[:, :, 0].tolist()


@pytest.mark.parametrize("channels", [(3, 3), (1, 3), (3, 1), (1, 1)])
def test_side_by_side_folder(tmp_path, channels):
    b = RED if channels[1] == 3 else DARK
    for name in ("2.png", "10.png", "1.png"):
        side_by_side(tmp_path / name, GREY, b)
    images, names = load_pairs(tmp_path, 8, channels, progress=False)
    assert images.shape == (3, sum(channels), 8, 8) and images.dtype == torch.uint8
    assert names == ["1.png", "10.png", "2.png"]
    assert colours(images)[0] == [90] * channels[0] + list(b)[: channels[1]]


def test_pix2pix_folder_gives_what_load_split_gives(tmp_path):
    write_pix2pix(tmp_path, "cityscapes", n_train=4, n_val=1)
    ours, names = load_pairs(tmp_path / "cityscapes" / "train", 16, (3, 3), progress=False)
    theirs, their_names = load_split(tmp_path, "cityscapes", "train", 16, progress=False)
    assert names == their_names and torch.equal(ours, theirs)


def test_two_folders_matched_by_name_across_extensions(tmp_path):
    for name, colour in (("b.jpg", RED), ("a.png", GREY), ("c.jpeg", RED)):
        solid(tmp_path / "photos" / name, colour, 20, 10)
    for name, value in (("a.jpg", 10), ("c.png", 30), ("b.png", 20)):
        solid(tmp_path / "maps" / name, value, 7, 13, mode="L")
    images, names = load_pairs([tmp_path / "photos", tmp_path / "maps"], 8, (3, 1), progress=False)
    assert images.shape == (3, 4, 8, 8) and names == ["a", "b", "c"]
    assert (images[:, :3].flatten(2).float().mean(2) - torch.tensor([GREY, RED, RED])).abs().max() < 3  # JPEG
    assert (images[:, 3].flatten(1).float().mean(1) - torch.tensor([10, 20, 30])).abs().max() < 3


def test_part_channel_rules(tmp_path):
    solid(tmp_path / "grey" / "0.png", 70, mode="L")
    solid(tmp_path / "grey" / "1.jpg", GREY)  # stored as RGB, grey up to JPEG noise
    solid(tmp_path / "grey" / "2.png", (60, 60, 60, 0), mode="RGBA")  # transparency dropped
    Image.fromarray(np.full((6, 9), 65535, dtype=np.uint16)).save(tmp_path / "grey" / "3.png")  # 16 bit
    images, names = load_part(tmp_path / "grey", 8, 1, progress=False)
    assert images.shape == (4, 1, 8, 8) and names == ["0.png", "1.jpg", "2.png", "3.png"]
    assert (images.flatten(1).float().mean(1) - torch.tensor([70, 90, 60, 255])).abs().max() < 2
    as_rgb, _ = load_part(tmp_path / "grey", 8, 3, progress=False)
    assert as_rgb.shape == (4, 3, 8, 8) and torch.equal(as_rgb, images.expand(-1, 3, -1, -1))


def test_exif_rotation_is_applied(tmp_path):
    img = np.zeros((10, 20, 3), dtype=np.uint8)
    img[:, :10] = RED  # red left, black right; orientation 6 = shown turned 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img).save(tmp_path / "turned.png", exif=exif)
    images, _ = load_part(tmp_path, 8, 3, progress=False)
    assert images[0, 0, 0].float().mean() > 150 and images[0, 0, -1].float().mean() < 50  # red on top


def test_colour_image_in_a_grey_part(tmp_path):
    solid(tmp_path / "edges" / "0.png", 0, mode="L")
    solid(tmp_path / "edges" / "1.png", RED)
    message = error(load_part, tmp_path / "edges", 8, 1, progress=False, part="A")
    assert "edges/1.png is a colour image but part A is grey (1 channel)" in message
    side_by_side(tmp_path / "pairs" / "0.png", RED, RED)
    message = error(load_pairs, tmp_path / "pairs", 8, (1, 3), progress=False)
    assert "left half (A) of" in message and "pairs/0.png" in message and "part A is grey" in message


def test_missing_empty_and_bad_folders(tmp_path):
    assert error(load_part, tmp_path / "nowhere", 8, 3) == f"image folder {tmp_path / 'nowhere'} not found; check the path"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "scan.tif").write_bytes(b"")
    message = error(load_part, tmp_path / "empty", 8, 3)
    assert message.startswith("no .jpg, .jpeg or .png images in") and "scan.tif" in message
    message = error(load_pairs, [tmp_path / "empty"] * 3, 8, (3, 3))
    assert "not 3 folders" in message
    assert "1 (grey) or 3 (RGB)" in error(load_part, tmp_path / "empty", 8, 2)


def test_unreadable_and_badly_shaped_images(tmp_path):
    side_by_side(tmp_path / "0.png", GREY, RED)
    (tmp_path / "1.jpg").write_bytes(b"not an image")
    (tmp_path / "2.png").write_bytes((tmp_path / "0.png").read_bytes()[:60])  # truncated
    message = error(load_pairs, tmp_path, 8, (3, 3), progress=False)
    assert message.startswith(f"cannot read image {tmp_path / '1.jpg'}") and "also failed: 1 image (2.png)" in message
    (tmp_path / "1.jpg").unlink()
    (tmp_path / "2.png").unlink()
    solid(tmp_path / "3.png", GREY, 21, 10)
    message = error(load_pairs, tmp_path, 8, (3, 3), progress=False)
    assert "3.png is 21x10, not two square halves side by side" in message


def test_unmatched_and_ambiguous_names(tmp_path):
    for name in ("1.png", "2.png", "3.png", "4.png", "5.png", "6.png"):
        solid(tmp_path / "a" / name, GREY)
    for name in ("1.jpg", "9.png"):
        solid(tmp_path / "b" / name, GREY)
    message = error(load_pairs, [tmp_path / "a", tmp_path / "b"], 8, (3, 3))
    assert "5 images (2.png, 3.png, 4.png, ...) in" in message and "1 image (9.png) in" in message
    assert "matched by file name without extension" in message
    solid(tmp_path / "b" / "1.png", GREY)
    assert "two images named 1 (1.jpg and 1.png)" in error(load_pairs, [tmp_path / "a", tmp_path / "b"], 8, (3, 3))


def test_fixing_a_bad_file_decodes_only_that_file(tmp_path, monkeypatch):
    data, cache = tmp_path / "part", tmp_path / "cache"
    for i, colour in enumerate((RED, GREY, DARK)):
        solid(data / f"{i}.png", colour)
    (data / "1.png").write_bytes(b"")
    assert "1.png" in error(load_part, data, 8, 3, cache, progress=False)
    assert len(list(cache.glob("*.pt"))) == 1  # saved before the error
    solid(data / "1.png", GREY)
    opened = count_decodes(monkeypatch)
    images, _ = load_part(data, 8, 3, cache, progress=False)
    assert opened == [data / "1.png"]
    assert colours(images) == [list(RED), list(GREY), list(DARK)]


@pytest.mark.parametrize("layout", ["part", "side by side", "two folders"])
def test_unchanged_files_are_not_decoded_again(tmp_path, monkeypatch, layout):
    for i in range(3):
        side_by_side(tmp_path / "sbs" / f"{i}.png", GREY, RED)
        solid(tmp_path / "a" / f"{i}.png", GREY)
        solid(tmp_path / "b" / f"{i}.jpg", RED)
    load = {"part": lambda: load_part(tmp_path / "a", 8, 3, tmp_path / "cache", False),
            "side by side": lambda: load_pairs(tmp_path / "sbs", 8, (1, 3), tmp_path / "cache", False),
            "two folders": lambda: load_pairs([tmp_path / "a", tmp_path / "b"], 8, (1, 3), tmp_path / "cache",
                                              False)}[layout]
    first, names = load()
    opened = count_decodes(monkeypatch)
    again, again_names = load()
    assert opened == [] and torch.equal(first, again) and names == again_names
    changed = {"part": "a/2.png", "side by side": "sbs/2.png", "two folders": "b/2.jpg"}[layout]
    os.utime(tmp_path / changed, ns=(0, 1))  # a new modification time: decoded again
    load()
    assert opened == [tmp_path / changed]
