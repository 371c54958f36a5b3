"""Download a data set into --data_root.

    python -m datasets.download mnist|cityscapes|edges2shoes [--data_root data]

pix2pix sets come from the pix2pix authors' archive (a .tar.gz per set);
MNIST through torchvision. Offline, this prints where to put the files by hand.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
PIX2PIX_SETS = ("cityscapes", "edges2shoes")
DEFAULT_DATA_ROOT = "data"  # the experiments' --data_root default too: data stay out of the source tree


def download_pix2pix(name: str, data_root: Path) -> Path:
    """Fetch and unpack <name>.tar.gz to data_root/<name>/{train,val}."""
    target = data_root / name
    if (target / "train").is_dir() and (target / "val").is_dir():
        print(f"{target} already exists")
        return target
    url = PIX2PIX_URL.format(name=name)
    data_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_root) as tmp:
        archive = Path(tmp) / f"{name}.tar.gz"
        print(f"downloading {url}")
        with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as f:
            shutil.copyfileobj(response, f)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        shutil.move(str(Path(tmp) / name), str(target))
    return target


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=["mnist", *PIX2PIX_SETS])
    p.add_argument("--data_root", default=DEFAULT_DATA_ROOT, help="folder to put the data set in")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = Path(args.data_root)
    try:
        if args.name == "mnist":
            from torchvision.datasets import MNIST

            for train in (True, False):
                MNIST(str(root), train=train, download=True)
        else:
            download_pix2pix(args.name, root)
    except (OSError, urllib.error.URLError, tarfile.TarError, RuntimeError) as err:
        where = (f"{root}/MNIST/raw/ (the four IDX files)" if args.name == "mnist"
                 else f"{root}/{args.name}/train/*.jpg and {root}/{args.name}/val/*.jpg (pix2pix format)")
        print(f"error: could not download {args.name} ({type(err).__name__}: {err}); "
              f"place the files by hand as {where}", file=sys.stderr)
        return 1
    print(f"{args.name} is ready under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
