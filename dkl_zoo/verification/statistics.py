"""The statistics of ``verify``, from scipy (a well-kept library), not written by hand here.

- Clopper–Pearson (exact) 95 % intervals of an accuracy: ``scipy.stats.binomtest(k, n).proportion_ci(
  method="exact")``.
- Paired comparison of per-example flags with the reference's: the exact McNemar test, a two-sided binomial test
  of the discordant pairs (``binomtest(b, b + c, 0.5)``). Without a single discordant pair the test is not defined
  (``binomtest(0, 0)`` raises) and the flags simply agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MissingDependencyError

__all__ = ["ALPHA", "Interval", "Paired", "accuracy_interval", "paired_flags", "scipy_stats"]

ALPHA = 0.001
"""A paired test's p-value below this is inconsistent: a one-sided excess of flips that chance explains at most
once in a thousand verifications (flips both ways are expected from random starts in other batches)."""


def scipy_stats():  # type: ignore[no-untyped-def]
    """``scipy.stats``, or a ``MissingDependencyError`` naming the extra that brings it."""
    try:
        from scipy import stats
    except ImportError:
        raise MissingDependencyError("verify's statistics need scipy: pip install 'dkl-zoo[eval]'") from None
    return stats


@dataclass(frozen=True)
class Interval:
    """An accuracy ``k / n`` with its exact 95 % interval, in [0, 1]."""

    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def contains(self, percent: float) -> bool:
        """Whether a reported accuracy (in percent, as the sources give it) lies in the interval."""
        return self.low * 100 - 1e-9 <= percent <= self.high * 100 + 1e-9

    def __str__(self) -> str:
        return f"{100 * self.value:.2f} % [{100 * self.low:.2f}, {100 * self.high:.2f}] ({self.k}/{self.n})"


def accuracy_interval(k: int, n: int) -> Interval:
    """``k`` of ``n`` correct, with its Clopper–Pearson 95 % interval."""
    if n == 0:
        return Interval(0, 0, 0.0, 1.0)
    ci = scipy_stats().binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return Interval(k, n, float(ci.low), float(ci.high))


@dataclass(frozen=True)
class Paired:
    """Per-example flags against the reference's on the same images: ``lost`` were right for the reference and
    wrong here, ``gained`` the other way; ``p_value`` of the exact McNemar test (1.0 without discordant pairs)."""

    n: int
    agree: int
    lost: int
    gained: int
    p_value: float

    @property
    def consistent(self) -> bool:
        return self.p_value >= ALPHA

    def __str__(self) -> str:
        return (
            f"{self.agree}/{self.n} agree; {self.lost} right only for the reference, {self.gained} only here; "
            f"McNemar p = {self.p_value:.3g}"
        )


def paired_flags(mine: list[bool], reference: list[bool]) -> Paired:
    """The exact McNemar test of two flag lists over the same images."""
    if len(mine) != len(reference):
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"paired flags must cover the same images, got {len(mine)} and {len(reference)}")
    lost = sum(1 for m, r in zip(mine, reference) if r and not m)
    gained = sum(1 for m, r in zip(mine, reference) if m and not r)
    p_value = 1.0 if lost + gained == 0 else float(scipy_stats().binomtest(lost, lost + gained, 0.5).pvalue)
    return Paired(n=len(mine), agree=len(mine) - lost - gained, lost=lost, gained=gained, p_value=p_value)
