"""What ``verify`` answers: a verdict, the checks that led to it with their numbers and intervals, and for an
inconsistent verdict the likely causes, as text (``summary``) and as JSON (``to_json``, schema version 1)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["VERDICTS", "Check", "Verification", "SCHEMA"]

VERDICTS = ("consistent", "inconsistent", "inconclusive", "skipped")
SCHEMA = 1


@dataclass(frozen=True)
class Check:
    """One check: ``name`` (fingerprint, clean, robust), its ``verdict``, the ``images`` it used, its ``seconds``,
    a one-line ``detail`` and its numbers (intervals against the reported numbers, paired counts, tolerances)."""

    name: str
    verdict: str
    images: int
    seconds: float
    detail: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The answer of ``dkl_zoo.verify``: ``verdict`` is "consistent", "inconsistent" or "inconclusive"."""

    entry: str
    verdict: str
    checks: tuple[Check, ...]
    causes: tuple[str, ...] = ()
    """For an inconsistent verdict: what most likely differs (weights, preprocessing, dtype, mode, eps)."""
    notes: tuple[str, ...] = ()
    """What could not be checked and why; what a larger time budget would narrow."""
    reference: str | None = None
    """The reference record used (its sha256 and protocol), or None when the entry has none."""
    environment: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        """A table of the checks, the verdict, its causes and notes."""
        lines = [f"{self.entry}: {self.verdict.upper()} ({self.seconds:.0f} s)"]
        if self.reference:
            lines.append(f"  reference: {self.reference}")
        width = max((len(c.name) for c in self.checks), default=5)
        for c in self.checks:
            lines.append(f"  {c.name:<{width}}  {c.verdict:<12}  {c.images:>6} images  {c.seconds:6.1f} s  {c.detail}")
        lines += [f"  likely cause: {cause}" for cause in self.causes]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self), "checks": [asdict(c) for c in self.checks]}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The verification as JSON text (schema ``SCHEMA``); also written to ``path`` when given, whole."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            from .._atomic import atomic_write_text

            atomic_write_text(path, text + "\n")
        return text
