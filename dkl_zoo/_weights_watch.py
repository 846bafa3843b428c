"""A cheap fingerprint of a CPU model's weights, to notice any change between two calls.

A cached ONNX export must never answer for weights that changed after it was made: fine-tuned by an optimiser,
edited in place (``p.data.add_()``, which bumps no version counter), reloaded with ``load_state_dict``, or
replaced (a new ``Parameter``, a new submodule, ``p.data = other``). A sha256 of every weight would notice all of
it, but costs about 0.5 ms per call on the shipped WRN-10-1, more than onnxruntime's whole forward pass. The
fingerprint here is a fixed random projection of the floating-point values (integer buffers such as batch norm's
step counter do not change an eval-mode forward): each large tensor read in place through a NumPy view, the small
ones copied side by side into one buffer, about 20 µs per call on WRN-10-1 and 4 ms on WRN-34-10's 46 M weights.
A change of any weight moves the projection by the change times its coefficient (of magnitude 1 to 4, random
sign), so an edit goes unnoticed only if it is below the float32 rounding of the projection (about 1e-6 of its
size) or built to cancel exactly; every tensor's identity and storage
address are compared too. Values are read in memory order, so the same weights in another memory layout
(channels-last) have another fingerprint: a false "changed", which costs speed (PyTorch answers), never
correctness. ``del`` of a buffer or submodule is not a registration: it does not make the tree be walked again.

The random coefficients of a large tensor of n values form a rank-one pattern ``row[i] * column[j]`` over its
values laid out as rows of ``_WIDTH``: two fixed vectors of 4,096 and 65,536 float32 numbers serve every tensor,
instead of one random vector as long as the model.
"""

from __future__ import annotations

import threading
import weakref
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from ._module_changes import structure_version

__all__ = ["Fingerprint", "fingerprint", "remember_loaded", "unchanged_since_load"]

_WIDTH = 4096
_ROWS = 65536
Fingerprint = tuple[float, ...]


@lru_cache(maxsize=1)
def _coefficients() -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(20240513)  # fixed: a fingerprint must mean the same in every call

    def draw(n: int) -> np.ndarray:
        # magnitudes in [1, 2), random signs: no coefficient is near zero, so no value's change is scaled away
        return (generator.uniform(1.0, 2.0, n) * generator.choice((-1.0, 1.0), n)).astype(np.float32)

    return draw(_WIDTH), draw(_ROWS)


class _Projection:
    """A random projection of tensors' values, their coefficients sliced once. Small tensors of one dtype are
    copied side by side into one buffer and projected by one dot product (one NumPy call per tensor would cost a
    microsecond each, most of the budget); a large one is projected in place as rows of ``_WIDTH``."""

    def __init__(self, views: list[np.ndarray]) -> None:
        column, row = _coefficients()
        self.views = views
        if len(views) == 1 and views[0].size > _WIDTH:
            values = views[0]
            full = values.size - values.size % _WIDTH
            self.rows: np.ndarray | None = values[:full].reshape(-1, _WIDTH)
            count = full // _WIDTH
            self.row_weights = (row[:count] if count <= _ROWS else np.resize(row, count)).astype(values.dtype)
            self.column = column.astype(values.dtype)
            self.buffer, self.weights = values[full:], self.column[: values.size - full]
        else:
            self.rows = None
            total = sum(view.size for view in views)
            self.buffer = np.empty(total, dtype=views[0].dtype)
            self.weights = np.resize(column, total).astype(views[0].dtype) * np.resize(row, total).astype(
                views[0].dtype
            )  # a new coefficient for every value: no two places weigh alike

    def __call__(self) -> float:
        if self.rows is None:
            np.concatenate(self.views, out=self.buffer)
            return float(self.buffer @ self.weights)
        return float((self.rows @ self.column) @ self.row_weights) + float(self.buffer @ self.weights)


def _projections(views: list[np.ndarray]) -> list[_Projection]:
    large = [_Projection([view]) for view in views if view.size > _WIDTH]
    by_dtype: dict[np.dtype, list[np.ndarray]] = {}
    for view in views:
        if view.size <= _WIDTH:
            by_dtype.setdefault(view.dtype, []).append(view)
    return large + [_Projection(group) for group in by_dtype.values()]


def _tensors(model: nn.Module) -> list[torch.Tensor]:
    """Every parameter and buffer, in a fixed order, by a plain walk (``named_parameters`` costs 50 µs)."""
    found: list[torch.Tensor] = []
    stack = [model]
    while stack:
        module = stack.pop()
        for tensor in module._parameters.values():
            if tensor is not None:
                found.append(tensor)
        for tensor in module._buffers.values():
            if tensor is not None:
                found.append(tensor)
        stack.extend(child for child in reversed(module._modules.values()) if child is not None)
    return found


def _memory_view(tensor: torch.Tensor) -> np.ndarray | None:
    """The tensor's values as a flat NumPy array over its own memory (so in-place edits show), in memory order
    (channels-last weights too); None for a tensor NumPy cannot view (not on the CPU, bfloat16, overlapping)."""
    if tensor.device.type != "cpu" or tensor.dtype in (torch.bfloat16, torch.bool) or tensor.is_complex():
        return None
    try:
        array = tensor.detach().numpy()
    except (RuntimeError, TypeError):
        return None
    flat = array.ravel(order="K")
    if flat.size and not np.shares_memory(flat, array):
        return None  # a copy would not see later edits
    return flat


class _Watch:
    """The tensors of one model, viewed once; ``fingerprint()`` re-reads their values, and walks the model's tree
    again only when some module registered something since (``_module_changes``) or a storage moved."""

    def __init__(self, model: nn.Module) -> None:
        self.model = weakref.ref(model)
        self.lock = threading.Lock()  # the web demo predicts from several threads; the buffers are shared
        self.version = -1
        self.tensors: list[torch.Tensor] = []
        self.addresses: list[int] = []
        self.projections: list[_Projection] | None = None

    def _bind(self, tensors: list[torch.Tensor]) -> None:
        self.tensors = tensors
        self.addresses = [tensor.data_ptr() for tensor in tensors]
        views = [_memory_view(tensor) for tensor in tensors if tensor.is_floating_point()]
        self.projections = None if any(view is None for view in views) else _projections(views)  # type: ignore[arg-type]

    def fingerprint(self) -> Fingerprint | None:
        """None when some tensor cannot be viewed on the CPU (the model then has no fingerprint)."""
        with self.lock:
            return self._fingerprint()

    def _fingerprint(self) -> Fingerprint | None:
        model = self.model()
        if model is None:
            return None
        version = structure_version()
        if version != self.version:
            tensors = _tensors(model)
            if len(tensors) != len(self.tensors) or any(a is not b for a, b in zip(tensors, self.tensors)):
                self._bind(tensors)
            self.version = version
        if [tensor.data_ptr() for tensor in self.tensors] != self.addresses:
            self._bind(self.tensors)  # a storage swapped in place (p.data = other, model.to(...)): view it anew
        if self.projections is None:
            return None
        return tuple([projection() for projection in self.projections])


_WATCHES: weakref.WeakKeyDictionary[nn.Module, _Watch] = weakref.WeakKeyDictionary()
_LOADED: weakref.WeakKeyDictionary[nn.Module, Fingerprint] = weakref.WeakKeyDictionary()


def fingerprint(model: nn.Module) -> Fingerprint | None:
    """The model's weights fingerprint now (equal fingerprints: the same weights, to float32 rounding), or None
    for a model that is not wholly on the CPU in a NumPy dtype."""
    watch = _WATCHES.get(model)
    if watch is None:
        watch = _WATCHES[model] = _Watch(model)
    return watch.fingerprint()


def remember_loaded(model: nn.Module) -> None:
    """Note the fingerprint of a model ``load`` just built from verified weights."""
    found = fingerprint(model)
    if found is not None:
        _LOADED[model] = found


def unchanged_since_load(model: nn.Module, now: Fingerprint | None = None) -> bool:
    """Whether the model still holds the weights ``load`` verified (False for a model not from ``load``)."""
    loaded = _LOADED.get(model)
    return loaded is not None and (now if now is not None else fingerprint(model)) == loaded
