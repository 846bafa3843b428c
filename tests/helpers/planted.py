"""Faults planted in front of or inside a model, as a user's pipeline might have them: what ``verify`` must catch
(tests/test_verify.py, benchmarks/verify.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

__all__ = ["Wrapped", "noisy"]


class Wrapped(torch.nn.Module):
    """A user's pipeline in front of the network: ``transform`` applied to the [0, 1] images first."""

    def __init__(self, net: torch.nn.Module, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.net, self.transform = net, transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.transform(x))


def noisy(model: torch.nn.Module, scale: float) -> torch.nn.Module:
    """A copy with Gaussian noise of ``scale`` times each tensor's mean magnitude added to every weight (seeded)."""
    changed = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in changed.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * scale * p.abs().mean())
    return changed
