"""Does a caller's model fit the entry it is used with? Checked once per model and entry before its first use,
so that a model of another entry (a Fashion-MNIST model under a CIFAR entry, a 100-class model under a 10-class
one) is refused with the entry it does fit, instead of a convolution's shape error halfway through the work.

A model from ``dkl_zoo.load`` fits its own entry by construction and is not probed. A model in training mode is
not probed either: a forward pass would update its batch-norm statistics, and no public function changes the
caller's model.
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

from ._devices import weights_device
from .errors import InvalidArgumentError
from .registry import REGISTRY, ModelEntry

__all__ = ["check_model_fits", "model_dtype", "has_training_layers"]

_FITTED: weakref.WeakKeyDictionary[nn.Module, set[str]] = weakref.WeakKeyDictionary()
"""The entries each live model was found to fit (forgotten with the model)."""


_MODE_LAYERS: weakref.WeakKeyDictionary[nn.Module, tuple[int, list[nn.Module]]] = weakref.WeakKeyDictionary()
"""Each live model's layers that behave differently in training, found by a walk that is repeated only when
some module registered a submodule since (``predict`` asks on every call)."""


def has_training_layers(module: nn.Module) -> bool:
    """Whether a layer that behaves differently in training (batch norm, dropout) is in training mode: its forward
    passes then change the module (batch norm's running statistics). A wrapper's own flag says nothing."""
    from ._module_changes import structure_version

    version = structure_version()
    known = _MODE_LAYERS.get(module)
    if known is None or known[0] != version:
        kinds = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
        known = _MODE_LAYERS[module] = (version, [m for m in module.modules() if isinstance(m, kinds)])
    return any(m.training for m in known[1])


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's weights (float32 for a model without floating parameters)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def _output(model: nn.Module, input_size: tuple[int, ...]) -> torch.Tensor | None:
    """The model's output on one blank image of ``input_size``, or None when it fails on that shape."""
    probe = torch.zeros((1, *input_size), dtype=model_dtype(model), device=weights_device(model))
    try:
        with torch.inference_mode():
            out = model(probe)
    except (RuntimeError, ValueError, TypeError, IndexError):
        return None
    return out if isinstance(out, torch.Tensor) else None


def _entries_it_fits(model: nn.Module) -> list[str]:
    """The registry entries whose input size and class count this model takes and gives."""
    fits = []
    for size in sorted({entry.arch.input_size for entry in REGISTRY.values()}):
        out = _output(model, size)
        if out is None or out.dim() != 2:
            continue
        fits += [
            name
            for name, entry in sorted(REGISTRY.items())
            if entry.arch.input_size == size and entry.num_classes == out.shape[1]
        ]
    return fits


def check_model_fits(model: nn.Module, entry: ModelEntry, *, known_entry: ModelEntry | None = None) -> None:
    """Refuse ``model`` when it does not take ``entry``'s images or does not give its class count.
    ``known_entry`` is the entry ``dkl_zoo.load`` built the model for, if any.

    Raises:
        InvalidArgumentError: the model fails on the entry's images; the message names the entries it fits.
        ModelOutputError: the model does not give the entry's class count; the message names the entries it fits.
    """
    if known_entry is not None and known_entry.name == entry.name:
        return
    if model.training or entry.name in _FITTED.get(model, ()):
        return
    channels, height, width = entry.arch.input_size
    out = _output(model, entry.arch.input_size)
    if out is not None and out.dim() == 2 and out.shape[1] == entry.num_classes:
        _FITTED.setdefault(model, set()).add(entry.name)
        return
    fits = _entries_it_fits(model)
    hint = (
        f"; it fits {', '.join(fits)}: pass entry={fits[0]!r}"
        if fits
        else "; it fits no registry entry: pass the entry whose architecture it has"
    )
    if out is None:
        raise InvalidArgumentError(
            f"the model does not take {entry.name}'s input ({channels}×{height}×{width} images){hint}"
        )
    from ._inputs import check_logits

    check_logits(out, num_classes=entry.num_classes, classes_of=entry.name, hint=hint)  # raises: it does not fit
