"""dkl_zoo: the released IKL-AT robust WideResNets, verified, in one line.

>>> import dkl_zoo
>>> model = dkl_zoo.load("ikl-at-cifar10-wrn34")   # eval mode, takes [0, 1] images
"""

from __future__ import annotations

from .errors import (
    CacheError,
    CheckpointError,
    DataFormatError,
    DatasetNotFoundError,
    DklZooError,
    DownloadError,
    DownloadTimeoutError,
    EntryNotFoundError,
    EvaluationStateError,
    HubAccessError,
    IntegrityError,
    InvalidArgumentError,
    OfflineError,
    ExportCheckError,
    ImageReadError,
    MissingDependencyError,
    ModelOutputError,
    NoRecordedHashError,
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

__version__ = "0.1.0"

from ._compat import install_timm_import_hook as _install_timm_import_hook  # noqa: E402


def _register_in_timm() -> None:
    from .integrations.timm import register_timm_models

    register_timm_models()


_install_timm_import_hook(_register_in_timm)  # timm models appear when (and if) timm is imported; not imported here


def __getattr__(name: str):  # heavy parts load on first use: `import dkl_zoo` imports neither torch nor timm
    if name in ("load", "build_model", "model_info"):
        from . import loading as _loading

        return getattr(_loading, name)
    if name in ("evaluate", "merge_results", "EvalResult", "robustness_curve", "write_robustbench_json"):
        from . import evaluation as _evaluation

        return getattr(_evaluation, name)
    if name in ("predict", "predict_iter", "Prediction"):
        from . import prediction as _prediction

        return getattr(_prediction, name)
    if name in ("attack_image", "AttackResult"):
        from . import adversarial as _adversarial

        return getattr(_adversarial, name)
    if name == "attack_figure":
        from .attack_figure import attack_figure

        return attack_figure
    if name in ("export", "ExportResult"):
        from . import exporting as _exporting

        return getattr(_exporting, name)
    raise AttributeError(f"module 'dkl_zoo' has no attribute {name!r}")


__all__ = [
    "AttackResult",
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
    "write_robustbench_json",
]
