"""What the verbs share: the usage error, the argument types, and outputs checked before any slow work."""

from __future__ import annotations

import argparse
import os

__all__ = ["UsageError", "parse_eps", "positive_int", "non_negative_int", "prepare_outputs"]


class UsageError(Exception):
    """A wrong combination of arguments: exit code 2, like argparse."""


def parse_eps(text: str) -> float:
    """An eps given as a number or a fraction of 255 (``8/255``); positive and finite, else a usage error."""
    import math

    try:
        if "/" in text:
            num, den = text.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"eps must be a number or a fraction like 8/255, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"eps must be a positive number (e.g. 8/255), got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def prepare_outputs(*paths: str | None) -> None:
    """Create the folders of the output files now, so a bad path fails before hours of evaluation."""
    from pathlib import Path

    for path in paths:
        if path is None:
            continue
        target = Path(path)
        if target.is_dir():
            raise UsageError(f"{path} is a folder; give a file name")
        if target.exists() and not target.is_file():
            raise UsageError(f"{path} is not a regular file (a device or a pipe?); give a file name")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create the folder of {path}: {error.strerror or error}") from None
        if not os.access(target.parent, os.W_OK):
            raise UsageError(f"cannot write {path}: its folder is not writable")
