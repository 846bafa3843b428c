"""Build an architecture by name, read weights and put them into it strictly (timm's ``_builder``: no I/O
beyond reading a local safetensors file, nothing of the Hub)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import InvalidArgumentError, StateDictMismatchError, WeightsFormatError
from ..registry import ModelEntry, get_entry
from .dm_wide_resnet import DMWideResNet
from .wide_resnet import WideResNet

__all__ = ["ARCHITECTURES", "build_architecture", "build_model", "read_weights", "assign_state_dict", "model_from_file"]

ARCHITECTURES: Mapping[str, Callable[..., nn.Module]] = {
    "wide_resnet": WideResNet,
    "dm_wide_resnet": DMWideResNet,
}


def build_architecture(architecture: str, *, meta: bool = False, **kwargs: Any) -> nn.Module:
    """Instantiate ``architecture`` with ``kwargs``; on the meta device when weights will be assigned anyway.

    Building on the meta device skips the random initialisation of ~46M parameters, which is most of the
    cost of the usual construct-then-load path.
    """
    try:
        factory = ARCHITECTURES[architecture]
    except KeyError:
        raise InvalidArgumentError(
            f"Unknown architecture {architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    if not meta:
        return factory(**kwargs)
    with torch.device("meta"):
        return factory(**kwargs)


def build_model(entry: ModelEntry | str, *, meta: bool = False, num_classes: int | None = None) -> nn.Module:
    """The entry's architecture with fresh weights (or on the meta device, ready for assignment).

    Raises:
        UnknownModelError: ``entry`` is a name that is not in the registry.
    """
    entry = get_entry(entry) if isinstance(entry, str) else entry
    kwargs = dict(entry.arch.kwargs)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    return build_architecture(entry.arch.name, meta=meta, **kwargs)


def read_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file (no pickle anywhere on this path).

    Raises:
        WeightsFormatError: the file is not a readable safetensors file (broken header, truncated data).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except SafetensorError as error:
        raise WeightsFormatError(
            f"{path} is not a readable safetensors file ({error}); the weights were not used. Re-convert or "
            "re-publish it (dkl-zoo convert), or load again to fetch a fresh copy."
        ) from None


def model_from_file(entry: ModelEntry, path: str | os.PathLike[str], dtype: torch.dtype | None = None) -> nn.Module:
    """The entry's architecture with the weights of a local safetensors file, built on the meta device and assigned
    strictly: the one way a model is made from a file (``load``, ``dkl-zoo eval --checkpoint``, the release check).
    Nothing here checks which bytes the file holds: ``load`` does, around this."""
    return assign_state_dict(build_model(entry, meta=True), read_weights(path), dtype=dtype)


def _check_keys(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        raise StateDictMismatchError(missing, unexpected, mismatched)


def _conform_dtypes(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], dtype: torch.dtype | None
) -> dict[str, torch.Tensor]:
    """Floating tensors cast to ``dtype`` (default: the architecture's), integer ones to the architecture's
    integer type; a floating tensor where an integer one belongs, or the reverse, is refused by name."""
    expected = model.state_dict()
    conformed: dict[str, torch.Tensor] = {}
    wrong: list[str] = []
    for key, tensor in state_dict.items():
        want = expected[key].dtype
        if want.is_floating_point != tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
            wrong.append(f"{key} is {tensor.dtype}, the architecture needs {want}")
            continue
        target = (dtype or want) if want.is_floating_point else want
        conformed[key] = tensor if tensor.dtype == target else tensor.to(target)
    if wrong:
        shown = "; ".join(wrong[:5]) + (f"; … ({len(wrong)} in all)" if len(wrong) > 5 else "")
        raise WeightsFormatError(
            f"the weights have tensors of the wrong type: {shown}. Re-convert them from "
            "the original checkpoint (dkl-zoo convert)."
        )
    return conformed


def assign_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], dtype: torch.dtype | None = None
) -> nn.Module:
    """Load ``state_dict`` strictly: every key present, none extra, every shape equal; else a clear error.

    Tensors are assigned, not copied, so a model built on the meta device becomes real without a second copy
    of the weights. Non-persistent buffers (the DM WideResNet's mean/std) are rebuilt afterwards. Floating
    weights stored in another precision are cast to ``dtype`` (default: the architecture's float32).

    Raises:
        StateDictMismatchError: keys missing, unexpected or of the wrong shape (each named).
        WeightsFormatError: a tensor of the wrong kind (floating where an integer belongs, or the reverse).
    """
    _check_keys(model, state_dict)
    state_dict = _conform_dtypes(model, state_dict, dtype)
    model.load_state_dict(state_dict, strict=True, assign=True)
    _materialize_non_persistent_buffers(model)
    return model


def _materialize_non_persistent_buffers(model: nn.Module) -> None:
    for module in model.modules():
        reset = getattr(module, "reset_non_persistent_buffers", None)
        if reset is not None and any(b.is_meta for b in module.buffers(recurse=False)):
            reset()
    left = [name for name, b in model.named_buffers() if b.is_meta]
    if left:
        raise StateDictMismatchError(
            left,
            [],
            hint="These buffers are neither in the weights nor rebuilt by "
            "their module: the architecture does not fit the file.",
        )
