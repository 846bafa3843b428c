"""``evaluate``: RobustBench's protocol (the first ``n_examples`` test images in order, clean accuracy, then
AutoAttack at the given eps), resumable, shardable, with progress bars and a result that carries its settings."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .._arguments import checked_bool
from .._autoattack import DEFAULT_SEED, make_adversary
from .._choices import DATASETS
from .._devices import run_device
from ..errors import InvalidArgumentError
from ..registry import ModelEntry, get_entry
from .arguments import check_model_output, check_run_arguments, checked_arguments, checked_data
from .result import EvalResult, library_versions
from .runner import run_autoattack
from .sharding import RankShare, rank_share, shard_range

__all__ = ["evaluate"]


def evaluate(
    model_or_name: nn.Module | str | ModelEntry,
    *,
    dataset: str | None = None,
    threat_model: str = "Linf",
    eps: float | None = None,
    n_examples: int = 10_000,
    version: str = "standard",
    attacks: Sequence[str] | None = None,
    batch_size: int = 500,
    device: str | torch.device | None = None,
    data_dir: str | os.PathLike[str] = "./data",
    seed: int = DEFAULT_SEED,
    log_path: str | os.PathLike[str] | None = None,
    state_path: str | os.PathLike[str] | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    model_name: str | None = None,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
    channels_last: bool = True,
) -> EvalResult:
    """Clean and AutoAttack accuracy on the first ``n_examples`` test images, RobustBench's way.

    ``model_or_name``: a model taking [0, 1] images, or a registry name (loaded with ``dkl_zoo.load``).
    ``device``: None (default) runs where the model's weights are (a registry name: the CPU); a model that is
    not on ``device`` (or not in the layout asked for) is evaluated as a copy there; the caller's module is never
    moved or changed.
    ``eps=None`` is the entry's eps (8/255 for the CIFAR entries). ``state_path`` makes the run resumable:
    run the same call again after an interruption. ``shard=(i, n)`` evaluates the i-th of n contiguous
    slices; under ``torchrun`` with a process group of n ranks the ranks share every attack and the merged
    result (``merge_results``) is exactly that of one process. ``data`` replaces the data set (x, y).

    The protocol, RobustBench's defaults: ``dataset`` (default the entry's, else cifar10; the first
    ``n_examples`` test images from ``data_dir``), ``threat_model`` "Linf", "L2" or "L1", ``version`` "standard"
    (APGD-CE, APGD-T, FAB-T, Square), "plus", "rand", or "custom" with ``attacks``, ``batch_size`` per attack
    call, ``seed`` for every attack (AutoAttack's own default is the clock). ``log_path`` receives AutoAttack's
    log lines, ``progress`` shows progress bars, ``model_name`` labels the result (default: the entry's name).
    ``channels_last`` stores a convolutional model's weights in channels-last order while it is evaluated
    (1.36x faster forward and backward on CPU for the shipped model; the same float32 model and protocol:
    the flags equal those of the default layout); pass False to leave the model's layout alone.

    Raises:
        InvalidArgumentError: an argument that cannot work (checked before the model or data are loaded).
        EvaluationStateError: ``state_path`` holds another evaluation (other model, data or settings) or is
            not a consistent state; the file is left as it is.
        DatasetNotFoundError: the test set is not under ``data_dir`` and cannot be downloaded.
    """
    if not isinstance(model_or_name, (str, ModelEntry, nn.Module)):
        raise InvalidArgumentError(
            f"model_or_name must be a torch nn.Module, a registry name or a ModelEntry, got "
            f"{type(model_or_name).__name__} (wrap a function in an nn.Module: its weights identify the resume state)"
        )
    entry = (
        get_entry(model_or_name)
        if isinstance(model_or_name, str)
        else model_or_name
        if isinstance(model_or_name, ModelEntry)
        else None
    )
    model_name = model_name or (entry.name if entry is not None else None)
    dataset, eps, attacks = checked_arguments(
        entry, dataset, threat_model, eps, version, attacks, batch_size, n_examples, data, shard
    )
    check_run_arguments(seed, data_dir, log_path, state_path, model_name)
    progress = checked_bool(progress, "progress")
    channels_last = checked_bool(channels_last, "channels_last")
    device = run_device(model_or_name if isinstance(model_or_name, nn.Module) else None, device)
    x_all, y_all = checked_data(data, dataset, n_examples, data_dir, entry)  # before the model is loaded
    model = _model_on(model_or_name, entry, device, channels_last)
    lo, hi = shard_range(len(y_all), shard)
    share = rank_share(shard, (lo, hi))
    x, y = (x_all[lo:hi], y_all[lo:hi]) if share is None else (x_all, y_all)
    share = share or RankShare()
    check_model_output(model, x, DATASETS[dataset], device)

    adversary = make_adversary(
        model, eps=eps, norm=threat_model, version=version, attacks=attacks, device=device, seed=seed
    )
    started = time.monotonic()
    outcome = run_autoattack(
        adversary,
        model,
        x,
        y,
        batch_size=batch_size,
        config={
            "eps": eps,
            "norm": threat_model,
            "version": version,
            "seed": seed,
            "dataset": dataset,
            "range": [lo, hi],
        },
        state_path=Path(state_path) if state_path is not None else None,
        device=device,
        log_path=log_path,
        progress=progress,
        share=share,
    )
    counted = share.own or slice(0, len(y))
    n = hi - lo
    n_clean = int(outcome.clean_flags[counted].sum())
    n_robust = int(outcome.flags[counted].sum())
    return EvalResult(
        clean_acc=n_clean / n,
        robust_acc=n_robust / n,
        n_examples=n,
        robust_acc_after={a: c / n for a, c in outcome.robust_after.items()},
        eps=float(eps),
        threat_model=threat_model,
        version=version,
        attacks=list(adversary.attacks_to_run),
        dataset=dataset,
        seed=seed,
        batch_size=batch_size,
        seconds=outcome.seconds if state_path is not None else time.monotonic() - started,
        library_versions=library_versions(),
        n_clean_correct=n_clean,
        n_robust=n_robust,
        robust_after_counts=dict(outcome.robust_after),
        example_range=(lo, hi),
        max_perturbation=outcome.max_perturbation,
        model_name=model_name,
        shard=tuple(shard) if shard is not None else None,
    )


def _model_on(
    model_or_name: nn.Module | str | ModelEntry,
    entry: ModelEntry | None,
    device: torch.device | str,
    channels_last: bool,
) -> nn.Module:
    """The registry's verified model, or the caller's, on ``device`` and in channels-last layout when asked and
    convolutional; warned about when it is in training mode. The caller's module is never changed: when it is
    not already where and how the run needs it, the run uses a copy."""
    import copy

    if entry is not None:
        from ..loading import load

        return _in_layout(load(entry, device=device), channels_last)
    model: nn.Module = model_or_name  # type: ignore[assignment]
    if model.training:
        warnings.warn(
            "the model is in training mode; AutoAttack expects eval mode (call model.eval())",
            RuntimeWarning,
            stacklevel=3,
        )
    convolutional = [p for p in model.parameters() if p.dim() == 4]
    wants_layout = channels_last and any(not p.is_contiguous(memory_format=torch.channels_last) for p in convolutional)
    elsewhere = any(p.device != torch.device(device) for p in model.parameters())
    from .._model_fit import has_training_layers

    if wants_layout or elsewhere or has_training_layers(model):  # training mode: its statistics would move
        model = _in_layout(copy.deepcopy(model).to(device), channels_last)  # the attacks run on the copy
    return model


def _in_layout(model: nn.Module, channels_last: bool) -> nn.Module:
    if channels_last and any(p.dim() == 4 for p in model.parameters()):
        model.to(memory_format=torch.channels_last)  # same values, faster kernels
    return model
