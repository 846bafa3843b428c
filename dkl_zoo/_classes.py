"""The one clean-accuracy loop: a model's class for each image, every batch's logits checked (``evaluate``, the
release check and training's final check)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ._inputs import check_logits

__all__ = ["predicted_classes"]


def predicted_classes(
    model: nn.Module,
    x: torch.Tensor,
    *,
    batch_size: int,
    device: Any = None,
    on_batch: Callable[[], None] | None = None,
) -> torch.Tensor:
    """The model's class for each image of ``x`` (int64, on the CPU), batch by batch without gradients, every
    batch's logits checked: NaN logits would be class 0, a silently wrong answer. The one clean-accuracy loop of
    ``evaluate``, the release check and the training's final check."""
    if device is None:
        from ._devices import weights_device

        device = weights_device(model)
    classes = torch.empty(len(x), dtype=torch.long)
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size].to(device))
            check_logits(logits, "the model (on clean images)")
            classes[start : start + batch_size] = logits.argmax(dim=1).cpu()
            if on_batch is not None:
                on_batch()
    return classes
