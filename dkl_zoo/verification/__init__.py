"""``dkl_zoo.verify``: a model's behaviour checked against its entry's reference record in minutes (the
fingerprint, then clean and robust accuracy paired with the reference's per-example flags), and the tools that
make and read those records. See docs/verify.md."""

from __future__ import annotations

from .exported import ExportedModel, checkpoint_kind, open_checkpoint
from .locating import locate_reference, reference_for
from .making import make_reference
from .reference import Protocol, Reference, read_reference, write_reference
from .result import Check, Verification
from .verifying import verify

__all__ = [
    "verify",
    "Verification",
    "Check",
    "Reference",
    "Protocol",
    "make_reference",
    "read_reference",
    "write_reference",
    "reference_for",
    "locate_reference",
    "open_checkpoint",
    "checkpoint_kind",
    "ExportedModel",
]
