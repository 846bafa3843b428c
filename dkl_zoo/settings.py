"""Settings read from the environment, each in one place with its default (huggingface_hub's ``constants``).

A keyword argument always wins over its variable; the variable wins over the default. Values are read when
they are needed, not at import, so a variable set by a test or a notebook after ``import dkl_zoo`` counts.
"""

from __future__ import annotations

import os

from .errors import InvalidArgumentError

__all__ = ["VERIFIED_ONLY_ENV", "verified_only"]

VERIFIED_ONLY_ENV = "DKL_ZOO_VERIFIED_ONLY"
"""``1``: fail closed. Weights whose sha256 is not pinned (registry or pins file) are refused before any
download: no trust on first use of an original file, no reliance on the Hub's ETag. Default ``0``."""

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _flag(variable: str) -> bool:
    text = os.environ.get(variable, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidArgumentError(f"{variable}={os.environ[variable]!r} is not a yes/no value; set it to 1 or 0")


def verified_only(keyword: bool | None = None) -> bool:
    """``keyword`` when given, else ``DKL_ZOO_VERIFIED_ONLY`` (default off)."""
    if keyword is not None:
        if not isinstance(keyword, bool):
            raise InvalidArgumentError(f"verified_only must be True, False or None, got {keyword!r}")
        return keyword
    return _flag(VERIFIED_ONLY_ENV)
