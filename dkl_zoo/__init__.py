"""dkl_zoo: the released IKL-AT robust WideResNets, verified, in one line.

>>> import dkl_zoo
>>> model = dkl_zoo.load("ikl-at-cifar10-wrn34")   # eval mode, takes [0, 1] images
"""

from __future__ import annotations

from .errors import (
    DklZooError,
    IntegrityError,
    OfflineError,
    RemoteNotFoundError,
    StateDictMismatchError,
    UnknownModelError,
)
from .loading import build_model, load, model_info
from .registry import ModelEntry, list_models

__version__ = "0.1.0"

__all__ = [
    "DklZooError",
    "IntegrityError",
    "ModelEntry",
    "OfflineError",
    "RemoteNotFoundError",
    "StateDictMismatchError",
    "UnknownModelError",
    "build_model",
    "list_models",
    "load",
    "model_info",
]
