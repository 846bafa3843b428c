"""Why a verification came out inconsistent: the likely causes, most specific first (training mode, another
precision, a normalisation in front of the network, another entry's weights, a small change), each tried against
the reference's fingerprint logits where it can be."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import DklZooError
from ..registry import ModelEntry
from .checks import Tolerance, logits_of, tolerance_for
from .locating import reference_for
from .reference import Reference

__all__ = ["likely_causes"]


def _close(a: torch.Tensor, b: torch.Tensor, tolerance: Tolerance) -> bool:
    return a.shape == b.shape and float((a - b).abs().max()) <= tolerance.relative * max(1.0, float(b.abs().max()))


def likely_causes(
    subject: Any,
    known: ModelEntry,
    reference: Reference | None,
    x: torch.Tensor,
    logits: torch.Tensor | None,
    *,
    clean_only: bool = False,
    robust_only: bool = False,
) -> list[str]:
    """The likely causes of an inconsistent verdict, most specific first, each tried where it can be."""
    from .._model_fit import has_training_layers
    from ..registry import REGISTRY

    causes: list[str] = []
    module = subject.module
    if robust_only:
        return [
            "clean behaviour matches the reference but robustness does not: the model's gradients differ (a "
            "wrapper that is not differentiable as the network, a non-deterministic or randomised layer), or the "
            "attack runs at another eps or norm than the reference protocol "
            + (reference.protocol.describe() if reference else "")
        ]
    if module is not None and has_training_layers(module):
        causes.append("the model is in training mode (batch norm uses each batch's statistics): call model.eval()")
    if subject.dtype != torch.float32:
        causes.append(f"the model computes in {str(subject.dtype).removeprefix('torch.')}, the reference in float32")
    if reference is not None and logits is not None and len(logits) and not causes:
        probe = x[: len(logits)]
        expected = reference.fingerprint_logits[: len(logits)]
        tolerance = Tolerance(max(1e-3, tolerance_for(subject.device, subject.dtype).relative * 10), "diagnosis")
        undo = {
            "maps [0, 1] images to [-1, 1] before the network (normalisation the zoo's models do not want)": lambda z: (
                (z + 1) / 2
            ),
            "multiplies [0, 1] images by 255 before the network (0-255 pixels)": lambda z: z / 255,
            "normalises with ImageNet's mean and std before the network": lambda z: (
                z * torch.tensor([0.229, 0.224, 0.225])[: z.shape[1], None, None]
                + torch.tensor([0.485, 0.456, 0.406])[: z.shape[1], None, None]
            ),
        }
        for cause, inverse in undo.items():
            try:
                if _close(logits_of(subject.run, inverse(probe), subject.device, subject.dtype), expected, tolerance):
                    causes.append(f"the pipeline {cause}: pass [0, 1] images; any normalisation lives inside the model")
                    break
            except (RuntimeError, DklZooError):
                continue
        if not causes:
            for name, other in sorted(REGISTRY.items()):
                if name == known.name or other.arch.input_size != known.arch.input_size:
                    continue
                try:
                    theirs, _ = reference_for(other)
                except DklZooError:
                    continue
                if theirs is not None and _close(logits, theirs.fingerprint_logits[: len(logits)], tolerance):
                    causes.append(f"these are the weights of {name}, not of {known.name}")
                    break
        if not causes:
            agree = float((logits.argmax(1) == expected.argmax(1)).float().mean())
            if agree >= 0.9:
                causes.append(
                    f"the answers mostly agree (top-1 on {100 * agree:.0f} % of the fingerprint images) but the "
                    "logits do not: weights changed slightly (fine-tuned, noisy or another precision), or "
                    "a small change of the images in front of the network (contrast, brightness, resizing)"
                )
            else:
                causes.append(
                    f"top-1 agrees on only {100 * agree:.0f} % of the fingerprint images: other weights (another "
                    "entry, another checkpoint) or another preprocessing in front of the network"
                )
    if clean_only and not causes:
        causes.append(
            "clean answers differ from the reference's although the fingerprint images agree: the "
            "preprocessing or the data differ on later images, or the test set is not the entry's"
        )
    return causes
