"""What the verbs share: the usage error, the argument types, and outputs checked before any slow work."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping

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


def _int_at_least(minimum: int, kind: str) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``, refused as ``must be a <kind> integer``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a {kind} integer, got {text!r}")
        return value

    return parse


positive_int = _int_at_least(1, "positive")
positive_int.__doc__ = "argparse type: an integer of at least 1."
non_negative_int = _int_at_least(0, "non-negative")
non_negative_int.__doc__ = "argparse type: an integer of at least 0."


def prepare_outputs(outputs: Mapping[str, str | None], *, inputs: Iterable[str] = ()) -> None:
    """Check the output files now, so a bad path fails before hours of work and no run writes over what it
    reads: each output a file that may be replaced (not a device, a pipe or a read-only file) in a folder that can
    be written or created (created only when the output is written, so a failed command leaves no folder), no two
    outputs the same file, no output one of the ``inputs`` or an image file inside an input folder. ``outputs``
    maps each option to its path."""
    from pathlib import Path

    from .._atomic import checked_output
    from .._images import IMAGE_EXTENSIONS
    from ..errors import InvalidArgumentError

    chosen: dict[Path, tuple[str, str]] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        try:
            target = checked_output(path)
        except InvalidArgumentError as error:
            raise UsageError(f"{option}: {error}") from None
        where = target.resolve()
        if where in chosen:
            raise UsageError(f"{chosen[where][0]} and {option} name the same file ({path}): give each its own")
        chosen[where] = (option, path)
    for source in map(Path, inputs):
        if not source.exists():
            continue  # the verb says which inputs are missing
        for where, (option, path) in chosen.items():
            if source.is_dir():
                if where.suffix.lower() in IMAGE_EXTENSIONS and where.is_relative_to(source.resolve()):
                    raise UsageError(
                        f"{option} {path} is an image file inside the input folder {source}: it would "
                        "be read as an input and then overwritten; write it elsewhere"
                    )
            elif where == source.resolve() or (where.exists() and where.samefile(source)):
                raise UsageError(
                    f"{option} {path} is the input {source}: it would be overwritten; give another file name"
                )
