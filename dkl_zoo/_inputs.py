"""Checks of image batches and labels before a model sees them: the one place that knows what the zoo's
models take (float NCHW images in [0, 1], labels in [0, classes)).

A 0–255 tensor, an ImageNet-normalised one or a [-1, 1] one gives a model wrong answers without any error;
a label out of range is silently counted as a mistake. Every user-facing path (``predict``, ``evaluate``,
``attack_image``) refuses them here, with what to do, before any slow work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import InvalidArgumentError, ModelOutputError

__all__ = ["checked_images", "checked_labels", "check_has_values", "check_value_range", "check_logits"]


def _shape(x: torch.Tensor) -> str:
    return "×".join(str(s) for s in x.shape)


def check_has_values(x: torch.Tensor, what: str = "images") -> None:
    """Refuse a tensor on the meta device (shapes without values) and one without a single pixel."""
    if x.device.type == "meta":
        raise InvalidArgumentError(f"{what} are on the meta device (a shape without values): pass real images")
    if x.numel() == 0:
        raise InvalidArgumentError(f"{what} hold no pixels (shape {_shape(x)}): pass at least one image with pixels")


def check_value_range(x: torch.Tensor, what: str = "images") -> None:
    """Refuse values outside [0, 1] (and NaN), naming the likely cause and the fix."""
    if x.numel() == 0:
        return
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        raise InvalidArgumentError(f"{what} hold NaN or infinite values; pass images in [0, 1]")
    low, high = float(x.min()), float(x.max())
    if low < 0.0:
        raise InvalidArgumentError(
            f"{what} have values from {low:.4g} to {high:.4g}, but the models take [0, 1] images: normalised "
            "images ([-1, 1], or mean/std as for ImageNet) give wrong answers. Pass the raw image scaled to [0, 1] "
            "(pixels / 255); any normalisation happens inside the model"
        )
    if high > 1.0:
        hint = (
            "values up to 255: pass uint8 images or divide by 255" if high <= 255.0 else "pass float images in [0, 1]"
        )
        raise InvalidArgumentError(f"{what} have values up to {high:.4g}, but the models take [0, 1] images ({hint})")


def checked_images(
    x: object,
    *,
    channels: int | None = None,
    size: Sequence[int] | None = None,
    allow_uint8: bool = False,
    what: str = "images",
) -> torch.Tensor:
    """``x`` as a float N×C×H×W batch in [0, 1]; refused with ``InvalidArgumentError`` saying how to fix it.

    ``channels`` and ``size`` (H, W) are what the model takes; ``allow_uint8`` accepts 0–255 uint8 batches
    (divided by 255), which ``evaluate`` does not: there a uint8 batch is refused to keep its data exact.
    """
    if not isinstance(x, torch.Tensor):
        raise InvalidArgumentError(f"{what} must be a torch.Tensor batch (N×C×H×W), got {type(x).__name__}")
    if x.dim() != 4:
        hint = " (one image: add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
        raise InvalidArgumentError(f"{what} must be a 4-d N×C×H×W batch, got shape {_shape(x)}{hint}")
    check_has_values(x, what)
    if x.dtype == torch.uint8:
        if not allow_uint8:
            raise InvalidArgumentError(
                f"{what} are uint8 (0–255), but the models take float images in [0, 1]: pass x.float() / 255"
            )
        x = x.float().div_(255.0)
    elif not x.is_floating_point():
        raise InvalidArgumentError(
            f"{what} must be float images in [0, 1]"
            + (" or uint8 images" if allow_uint8 else "")
            + f", got dtype {x.dtype}"
        )
    if channels is not None and x.shape[1] != channels:
        if x.shape[-1] == channels and x.shape[1] not in (1, 3):
            raise InvalidArgumentError(
                f"{what} look channels-last (shape {_shape(x)}); the models take N×C×H×W: pass x.permute(0, 3, 1, 2)"
            )
        raise InvalidArgumentError(
            f"{what} have {x.shape[1]} channel(s), the model takes {channels} (shape {_shape(x)}); "
            + (
                "convert them to grayscale, or use the entry's transforms()"
                if channels == 1
                else "repeat a grayscale channel, or use the entry's transforms()"
            )
        )
    if size is not None and tuple(x.shape[2:]) != tuple(size):
        raise InvalidArgumentError(
            f"{what} are {x.shape[2]}×{x.shape[3]} pixels, the model takes {size[0]}×{size[1]}: resize them, or pass "
            "image files / PIL images, which the entry's transforms() resize"
        )
    check_value_range(x, what)
    return x


def checked_labels(y: object, *, n: int, num_classes: int, what: str = "labels") -> torch.Tensor:
    """``y`` as int64 labels, one per image, each in [0, num_classes); refused otherwise (a label out of range
    would be counted as a wrong answer without any error)."""
    if not isinstance(y, torch.Tensor):
        raise InvalidArgumentError(f"{what} must be a torch.Tensor of class indices, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise InvalidArgumentError(f"{what} must be integer class indices, got dtype {y.dtype}")
    if y.dim() != 1 or y.shape[0] != n:
        raise InvalidArgumentError(
            f"{what} must be a 1-d tensor of {n} class indices (one per image), got shape {_shape(y)}"
        )
    y = y.long()
    if n:
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise InvalidArgumentError(
                f"{what} must be in [0, {num_classes}) for a {num_classes}-class model, found {bad}: wrong data "
                "set, or labels counted from 1?"
            )
    return y


def check_logits(
    logits: object,
    what: str = "the model",
    *,
    num_classes: int | None = None,
    classes_of: str = "the entry",
    hint: str = "",
) -> None:
    """The one check of a model's output, in one wording for every use case: a B×C tensor, C = ``num_classes``
    (``classes_of`` names whose classes, ``hint`` the likely mistake), and finite (argmax of NaN is class 0, a
    silently wrong answer).

    Raises:
        ModelOutputError: naming what was returned and what was expected.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        got = f"a tensor of shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelOutputError(f"{what} returned {got}, not B×C logits{hint}")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ModelOutputError(
            f"{what} returned B×{logits.shape[1]} logits, not B×{num_classes} logits for {classes_of}'s "
            f"{num_classes} classes{hint}"
        )
    if not bool(torch.isfinite(logits).all()):
        raise ModelOutputError(
            f"{what} returned NaN or infinite logits; its weights or inputs are broken "
            "(no prediction or accuracy can be computed from them)"
        )
