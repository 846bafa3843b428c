"""dkl_zoo: the released IKL-AT robust WideResNets, verified, in one line.

>>> import dkl_zoo
>>> model = dkl_zoo.load("ikl-at-cifar10-wrn34")   # eval mode, takes [0, 1] images

The public API is what this module exports (``__all__``): loading (``load``, ``model_info``, ``list_models``),
evaluation (``evaluate`` and its writers), verification (``verify``: behaviour against a reference in
minutes), inference (``predict``, ``attack_image``, ``export``) and the error
classes. Modules whose names start with an underscore are internal. Heavy parts load on first use, so
``import dkl_zoo`` imports neither torch nor timm; a type checker sees the real signatures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import install_timm_import_hook as _install_timm_import_hook
from .errors import (
    AttackTimeoutError,
    PortUnavailableError,
    CacheError,
    CheckpointError,
    DataFormatError,
    DatasetNotFoundError,
    DklZooError,
    DownloadError,
    DownloadTimeoutError,
    EntryNotFoundError,
    EvaluationStateError,
    ExportCheckError,
    HubAccessError,
    ImageReadError,
    IncompatibleDependencyError,
    IntegrityError,
    InvalidArgumentError,
    MissingDependencyError,
    ModelOutputError,
    NoRecordedHashError,
    OfflineError,
    OriginalReleaseError,
    ReleaseCheckError,
    RemoteNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    RunInUseError,
    StateDictMismatchError,
    UnknownModelError,
    UnpinnedWeightsError,
    UnsafeCheckpointError,
    WeightsFormatError,
)
from .registry import ModelEntry, list_models

if TYPE_CHECKING:  # what the lazy attributes below are, for type checkers and IDEs
    from .adversarial import AttackResult, attack_image
    from .figure import attack_figure
    from .evaluation import EvalResult, evaluate, merge_results, robustness_curve, write_robustbench_json
    from .exporting import ExportResult, export
    from .loading import build_model, load, model_info
    from .prediction import Prediction, predict, predict_iter
    from .verification import Verification, verify

__version__ = "0.1.0"

_LAZY = {
    "load": "loading", "build_model": "loading", "model_info": "loading",
    "evaluate": "evaluation", "merge_results": "evaluation", "EvalResult": "evaluation",
    "robustness_curve": "evaluation", "write_robustbench_json": "evaluation",
    "predict": "prediction", "predict_iter": "prediction", "Prediction": "prediction",
    "attack_image": "adversarial", "AttackResult": "adversarial", "attack_figure": "figure",
    "export": "exporting", "ExportResult": "exporting",
    "verify": "verification", "Verification": "verification",
}
"""Public name → the module that defines it, imported on first use (torch is heavy; ``dkl-zoo --help`` is not)."""


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dkl_zoo' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _register_in_timm() -> None:
    from .integrations.timm import register_timm_models

    register_timm_models()


_install_timm_import_hook(_register_in_timm)  # timm models appear when (and if) timm is imported; not imported here

__all__ = [
    "AttackResult",
    "AttackTimeoutError",
    "PortUnavailableError",
    "CacheError",
    "CheckpointError",
    "DataFormatError",
    "DatasetNotFoundError",
    "DklZooError",
    "DownloadError",
    "DownloadTimeoutError",
    "EntryNotFoundError",
    "EvalResult",
    "EvaluationStateError",
    "ExportCheckError",
    "ExportResult",
    "HubAccessError",
    "ImageReadError",
    "IncompatibleDependencyError",
    "IntegrityError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "ModelEntry",
    "ModelOutputError",
    "NoRecordedHashError",
    "OfflineError",
    "OriginalReleaseError",
    "Prediction",
    "ReleaseCheckError",
    "RemoteNotFoundError",
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "RunInUseError",
    "StateDictMismatchError",
    "UnknownModelError",
    "UnpinnedWeightsError",
    "UnsafeCheckpointError",
    "Verification",
    "WeightsFormatError",
    "attack_figure",
    "attack_image",
    "build_model",
    "evaluate",
    "export",
    "list_models",
    "load",
    "merge_results",
    "model_info",
    "predict",
    "predict_iter",
    "robustness_curve",
    "verify",
    "write_robustbench_json",
]
