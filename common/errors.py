"""Errors the user can fix."""

from __future__ import annotations


class UserError(Exception):
    """Bad input the user can fix; printed as one line, without a traceback."""
