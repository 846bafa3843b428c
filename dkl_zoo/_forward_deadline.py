"""A model that refuses to run past a deadline: an attack (ours or AutoAttack's) stops at its next forward pass.

``attack_image(time_limit=...)`` and ``verify``'s robust check use it, so a caller waiting on either (the demo, a
CI job) is never held past the time it gave.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from .errors import AttackTimeoutError

__all__ = ["ForwardDeadline"]


class ForwardDeadline(nn.Module):
    """``model``, raising ``AttackTimeoutError(message)`` from the first forward pass after ``stop_at`` (a
    ``time.monotonic()`` instant)."""

    def __init__(self, model: nn.Module, stop_at: float, message: str) -> None:
        super().__init__()
        self.model, self.stop_at, self.message = model, stop_at, message

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if time.monotonic() > self.stop_at:
            raise AttackTimeoutError(self.message)
        return self.model(x)
