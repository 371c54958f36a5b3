"""Command-line value parsers that any layer's option group may use."""

from __future__ import annotations

import argparse


def int01(value: str) -> int:
    """Parse the reference's 0/1 integer switches."""
    if value not in {"0", "1"}:
        raise argparse.ArgumentTypeError(f"expected 0 or 1, got {value!r}")
    return int(value)
