"""dkl_zoo: the released IKL-AT robust WideResNets, verified, in one line.

>>> import dkl_zoo
>>> model = dkl_zoo.load("ikl-at-cifar10-wrn34")   # eval mode, takes [0, 1] images

The public API is what this module exports (``__all__``): loading (``load``, ``model_info``, ``list_models``),
evaluation (``evaluate`` and its writers), verification (``verify``: behaviour against a reference in
minutes), inference (``predict``, ``attack_image``, ``export``) and the errors that their callers catch; every
error class is in ``dkl_zoo.errors`` (as huggingface_hub keeps its own in ``huggingface_hub.errors``). Modules
whose names start with an underscore are internal. Heavy parts load on first use, so
``import dkl_zoo`` imports neither torch nor timm; a type checker sees the real signatures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import install_timm_import_hook as _install_timm_import_hook
from .errors import (
    DatasetNotFoundError,
    DklZooError,
    EvaluationStateError,
    HubAccessError,
    ImageReadError,
    IntegrityError,
    InvalidArgumentError,
    MissingDependencyError,
    ModelOutputError,
    OfflineError,
    RemoteNotFoundError,
    UnknownModelError,
    UnpinnedWeightsError,
)
from .registry import ModelEntry, list_models

if TYPE_CHECKING:  # what the lazy attributes below are, for type checkers and IDEs
    from .adversarial import AttackResult, attack_image
    from .evaluation import EvalResult, evaluate, merge_results, robustness_curve, write_robustbench_json
    from .exporting import ExportResult, export
    from .figure import attack_figure
    from .loading import build_model, load, model_info
    from .prediction import Prediction, predict, predict_iter
    from .verification import Verification, verify

__version__ = "0.1.0"

_LAZY = {
    "load": "loading",
    "build_model": "loading",
    "model_info": "loading",
    "evaluate": "evaluation",
    "merge_results": "evaluation",
    "EvalResult": "evaluation",
    "robustness_curve": "evaluation",
    "write_robustbench_json": "evaluation",
    "predict": "prediction",
    "predict_iter": "prediction",
    "Prediction": "prediction",
    "attack_image": "adversarial",
    "AttackResult": "adversarial",
    "attack_figure": "figure",
    "export": "exporting",
    "ExportResult": "exporting",
    "verify": "verification",
    "Verification": "verification",
}
"""Public name → the module that defines it, imported on first use (torch is heavy; ``dkl-zoo --help`` is not)."""


_MOVED_ERRORS = frozenset(
    {
        "AttackTimeoutError",
        "CacheError",
        "CheckpointError",
        "DataFormatError",
        "DownloadError",
        "DownloadTimeoutError",
        "EntryNotFoundError",
        "ExportCheckError",
        "IncompatibleDependencyError",
        "NoRecordedHashError",
        "OriginalReleaseError",
        "PortUnavailableError",
        "ReleaseCheckError",
        "RepositoryNotFoundError",
        "RevisionNotFoundError",
        "RunInUseError",
        "StateDictMismatchError",
        "UnsafeCheckpointError",
        "WeightsFormatError",
    }
)
"""Errors that were top-level names up to 0.1.0 and live in ``dkl_zoo.errors`` (every error does): still found here,
with a ``DeprecationWarning``, until 0.2.0."""


def __getattr__(name: str) -> object:
    import importlib

    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    if name in _MOVED_ERRORS:
        import warnings

        warnings.warn(
            f"dkl_zoo.{name} is dkl_zoo.errors.{name}; the top-level name goes in 0.2.0",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(".errors", __name__), name)
    raise AttributeError(f"module 'dkl_zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _register_in_timm() -> None:
    from .integrations.timm import register_timm_models

    register_timm_models()


_install_timm_import_hook(_register_in_timm)  # timm models appear when (and if) timm is imported; not imported here

__all__ = [
    # models
    "load",
    "model_info",
    "list_models",
    "build_model",
    "ModelEntry",
    # inference
    "predict",
    "predict_iter",
    "Prediction",
    "attack_image",
    "AttackResult",
    "attack_figure",
    "export",
    "ExportResult",
    # evaluation and verification
    "evaluate",
    "EvalResult",
    "merge_results",
    "robustness_curve",
    "write_robustbench_json",
    "verify",
    "Verification",
    # the errors callers of load, predict, evaluate and verify catch; every error is in dkl_zoo.errors
    "DklZooError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "UnknownModelError",
    "RemoteNotFoundError",
    "OfflineError",
    "HubAccessError",
    "IntegrityError",
    "UnpinnedWeightsError",
    "ImageReadError",
    "ModelOutputError",
    "DatasetNotFoundError",
    "EvaluationStateError",
]
