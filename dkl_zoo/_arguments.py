"""Checks of the public functions' plain arguments (flags, counts, durations): one function per kind of argument,
one wording, so every entry point refuses the same mistake in the same words before any slow work.

A truthy string such as ``"no"`` is not ``True``, and ``True`` is not the count 1: both are refused, never
guessed.
"""

from __future__ import annotations

import math

from .errors import InvalidArgumentError

__all__ = ["checked_bool", "checked_count", "checked_seconds", "checked_eps", "is_real"]


def is_real(value: object) -> bool:
    """A finite int or float, and not a bool: the one test behind every numeric argument and setting."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def checked_bool(value: object, name: str) -> bool:
    """``value`` when it is ``True`` or ``False`` (a numpy bool too); anything else is refused."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":  # numpy.bool_, without importing numpy here
        return bool(value)
    raise InvalidArgumentError(f"{name} must be True or False, got {value!r}")


def checked_count(value: object, name: str, minimum: int = 0, *, below: int | None = None) -> int:
    """``value`` when it is an integer (not a bool, not a float) of at least ``minimum`` (and less than ``below``),
    refused as "a positive integer", "a non-negative integer" or "an integer in [minimum, below)"."""
    import operator

    if below is not None:
        wanted = f"an integer in [{minimum}, {_power(below)})"
    else:
        wanted = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
    if isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be {wanted}, got {value!r}")
    try:
        number = operator.index(value)  # int and numpy integers, not floats
    except TypeError:
        raise InvalidArgumentError(f"{name} must be {wanted}, got {value!r}") from None
    if number < minimum or (below is not None and number >= below):
        raise InvalidArgumentError(f"{name} must be {wanted}, got {value!r}")
    return int(number)


def _power(number: int) -> str:
    """``2**63`` rather than 9223372036854775808."""
    exponent = number.bit_length() - 1
    return f"2**{exponent}" if number == 1 << exponent and exponent > 16 else str(number)


def checked_seconds(value: object, name: str) -> float:
    """``value`` when it is a positive, finite number of seconds."""
    if not is_real(value) or value <= 0:  # type: ignore[operator]
        raise InvalidArgumentError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def checked_eps(eps: object, threat_model: str = "Linf") -> float:
    """A positive, finite eps; for Linf at most 1: inputs are [0, 1] images, so a larger one was given in pixels."""
    if not is_real(eps) or eps <= 0:  # type: ignore[operator]
        raise InvalidArgumentError(f"eps must be a positive number, got {eps!r}")
    if threat_model == "Linf" and eps > 1:
        raise InvalidArgumentError(
            f"eps={eps} is larger than 1, but inputs are [0, 1] images: an Linf eps is a fraction of the pixel "
            f"range. Did you give it in pixels? Use eps={eps}/255 = {eps / 255:.5f}."
        )
    return float(eps)
