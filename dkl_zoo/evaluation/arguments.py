"""``evaluate``'s arguments, each checked before the model or the data are loaded (and the data before the
attacks): what cannot work is refused with what to do, never evaluated silently wrong."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._arguments import checked_count, checked_eps
from .._choices import AUTOATTACK_ATTACKS, AUTOATTACK_VERSIONS, DATASETS, TEST_SIZES, THREAT_MODELS
from .._inputs import check_logits, checked_images, checked_labels
from ..data import load_test_set
from ..errors import InvalidArgumentError
from ..registry import ModelEntry
from .sharding import shard_range

__all__ = [
    "check_eps",
    "check_attacks",
    "checked_arguments",
    "check_run_arguments",
    "checked_data",
    "check_model_output",
]


def check_eps(eps: float, threat_model: str) -> None:
    """A positive eps; for Linf at most 1 (inputs are [0, 1] images: a larger one was given in pixels)."""
    checked_eps(eps, threat_model)


def check_attacks(version: str, attacks: Sequence[str] | None) -> list[str] | None:
    """The attacks of a ``custom`` run (known names, at least one); None for the versions that fix their own."""
    if version not in AUTOATTACK_VERSIONS:
        raise InvalidArgumentError(f"unknown AutoAttack version {version!r}; known: {', '.join(AUTOATTACK_VERSIONS)}")
    if attacks is None:
        if version == "custom":
            raise InvalidArgumentError(f"version='custom' needs attacks=[...] from {', '.join(AUTOATTACK_ATTACKS)}")
        return None
    if version != "custom":
        raise InvalidArgumentError(f"attacks=... needs version='custom' (version {version!r} fixes its own attacks)")
    unknown = [a for a in attacks if a not in AUTOATTACK_ATTACKS]
    if unknown or not attacks:
        raise InvalidArgumentError(f"unknown attack(s) {unknown or attacks}; known: {', '.join(AUTOATTACK_ATTACKS)}")
    return list(attacks)


def checked_arguments(
    entry: ModelEntry | None,
    dataset: str | None,
    threat_model: str,
    eps: float | None,
    version: str,
    attacks: Sequence[str] | None,
    batch_size: int,
    n_examples: int,
    data: tuple[torch.Tensor, torch.Tensor] | None,
    shard: tuple[int, int] | None,
) -> tuple[str, float, list[str] | None]:
    """Every argument checked before the model or the data are loaded; returns dataset, eps and attacks."""
    dataset = dataset or (entry.dataset if entry else "cifar10")
    if dataset not in DATASETS:
        raise InvalidArgumentError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    if entry is not None and entry.dataset != dataset:
        raise InvalidArgumentError(
            f"{entry.name} is a {entry.dataset} model; evaluating it on {dataset} means nothing (leave dataset "
            "out to use the entry's)"
        )
    if threat_model not in THREAT_MODELS:
        raise InvalidArgumentError(f"unknown threat model {threat_model!r}; known: {', '.join(THREAT_MODELS)}")
    if eps is None:
        eps = entry.provenance.eps if entry is not None else (8 / 255 if threat_model == "Linf" else 0.5)
    check_eps(eps, threat_model)
    checked_attacks = check_attacks(version, attacks)
    checked_count(batch_size, "batch_size", 1)
    available = len(data[1]) if data is not None else TEST_SIZES[dataset]
    checked_count(n_examples, "n_examples", 1)
    if n_examples > available:
        where = "the data given" if data is not None else f"the {dataset} test set"
        raise InvalidArgumentError(f"n_examples={n_examples} is larger than {where} ({available} images)")
    shard_range(n_examples, shard)
    return dataset, eps, checked_attacks


def check_run_arguments(
    seed: object, data_dir: object, log_path: object, state_path: object, model_name: object
) -> None:
    """The arguments the protocol does not decide, refused before any data or model is loaded."""
    checked_count(seed, "seed", 0, below=2**63)
    for name, value in (("data_dir", data_dir), ("log_path", log_path), ("state_path", state_path)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise InvalidArgumentError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    if model_name is not None and not isinstance(model_name, str):
        raise InvalidArgumentError(f"model_name must be a string, got {type(model_name).__name__}")


def checked_data(
    data: tuple[torch.Tensor, torch.Tensor] | None,
    dataset: str,
    n_examples: int,
    data_dir: str | os.PathLike[str],
    entry: ModelEntry | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n_examples`` images and labels, refused when a model would silently get them wrong: images
    outside [0, 1] or integer-valued, the wrong channel count for the entry, labels outside the classes."""
    if data is not None:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise InvalidArgumentError("data must be a pair (images, labels) of tensors")
        x, y = data[0], data[1]
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            x, y = x[:n_examples], y[:n_examples]
    else:
        x, y = load_test_set(dataset, n_examples, data_dir)
    channels = entry.arch.input_size[0] if entry is not None else None
    x = checked_images(x, channels=channels, what="the test images").contiguous().float()
    return x, checked_labels(y, n=len(x), num_classes=DATASETS[dataset], what="the test labels")


def check_model_output(model: nn.Module, x: torch.Tensor, num_classes: int, device: Any) -> None:
    """The model takes the images and returns finite B×C logits for the data set's C classes, on two images."""
    try:
        with torch.no_grad():
            out = model(x[:2].to(device))
    except RuntimeError as error:  # a shape torch cannot multiply: the data and the model do not fit
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InvalidArgumentError(
            f"the model cannot take the test images ({'×'.join(map(str, x.shape[1:]))} each): {first}. A model "
            "for another data set?"
        ) from None
    check_logits(
        out,
        "the model (on clean test images)",
        num_classes=num_classes,
        classes_of="the data set",
        hint=": a model of another data set (a CIFAR-100 model on CIFAR-10?)",
    )
