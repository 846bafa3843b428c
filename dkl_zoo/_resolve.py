"""What a use case runs: a registry name, a model from ``load`` or any model with ``entry=`` → (the model, its
entry, the device), the caller's model never changed. ``predict``, ``attack_image``, ``export`` and ``verify``
take their model through here, so the rules are written once."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ._devices import run_device
from .errors import InvalidArgumentError
from .registry import ModelEntry, get_entry

__all__ = ["resolve_model"]


def resolve_model(
    model_or_name: nn.Module | str | ModelEntry,
    *,
    entry: str | ModelEntry | None = None,
    device: str | torch.device | None = None,
    warn_training: bool = True,
) -> tuple[nn.Module, ModelEntry, torch.device]:
    """The model, its entry and the device to run on: a name is loaded (verified); a model from ``load``
    knows its entry; any other model needs ``entry=`` (class names, input size) and is checked to fit it.
    The caller's model is never changed: given another ``device`` than its own, a copy runs there, as does a model
    in training mode (each forward pass would move its batch-norm statistics); otherwise it runs where it is."""
    import copy

    from ._model_fit import check_model_fits, has_training_layers
    from .loading import entry_of, load

    if isinstance(model_or_name, (str, ModelEntry)):
        if entry is not None:
            raise InvalidArgumentError("entry=... is for a model object; a registry name already names its entry")
        target = run_device(None, device)
        model = load(model_or_name, device=target)
        return (
            model,
            entry_of(model) or (get_entry(model_or_name) if isinstance(model_or_name, str) else model_or_name),
            target,
        )
    if not isinstance(model_or_name, nn.Module):
        raise InvalidArgumentError(
            f"model_or_name must be a registry name, a ModelEntry or a torch nn.Module, got "
            f"{type(model_or_name).__name__}"
        )
    if entry is not None and not isinstance(entry, (str, ModelEntry)):
        raise InvalidArgumentError(f"entry must be a registry name or a ModelEntry, got {type(entry).__name__}")
    model = model_or_name
    own = entry_of(model)
    known = get_entry(entry) if isinstance(entry, str) else entry if entry is not None else own
    if known is None:
        raise InvalidArgumentError(
            "this model does not know which entry it is (its class names and input size): pass a registry name, "
            "a model from dkl_zoo.load, or entry='<registry name>' for a model with an entry's architecture"
        )
    here = run_device(model, None)
    target = run_device(model, device) if device is not None else here
    if model.training and warn_training:
        warnings.warn(
            "the model is in training mode (batch norm then uses batch statistics); call model.eval()",
            RuntimeWarning,
            stacklevel=3,
        )
    check_model_fits(model, known, known_entry=own)
    if target != here and not (target.type == here.type == "cuda" and target.index is None):
        model = copy.deepcopy(model).to(target)  # the caller's module stays where it is
    elif has_training_layers(model):
        model = copy.deepcopy(model)  # its batch-norm statistics would move with every forward pass
    return model, known, target
