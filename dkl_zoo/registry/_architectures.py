"""The networks of the released checkpoints, as the registry's entries state them (RobustBench's classes)."""

from __future__ import annotations

from ._types import ArchitectureSpec

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "CIFAR100_MEAN", "CIFAR100_STD", "wrn34", "dm_wrn28", "wrn10_1_fashion"]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2471, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
"""Per-channel statistics of the CIFAR training sets, as DM-Improves-AT's WideResNets normalise inside."""


def wrn34(classes: int) -> ArchitectureSpec:
    """The TRADES-style WideResNet-34-10 of the release (RobustBench's ``WideResNet``; no normalisation inside)."""
    return ArchitectureSpec(
        name="wide_resnet",
        kwargs={"depth": 34, "widen_factor": 10, "num_classes": classes},
        label="WideResNet-34-10",
        input_size=(3, 32, 32),
    )


def dm_wrn28(classes: int) -> ArchitectureSpec:
    """DeepMind's WideResNet-28-10 with SiLU, as DM-Improves-AT trains it (CIFAR mean/std inside the model)."""
    mean, std = (CIFAR10_MEAN, CIFAR10_STD) if classes == 10 else (CIFAR100_MEAN, CIFAR100_STD)
    return ArchitectureSpec(
        name="dm_wide_resnet",
        kwargs={"depth": 28, "width": 10, "num_classes": classes, "activation": "silu", "mean": mean, "std": std},
        label="WideResNet-28-10 (SiLU, DeepMind style)",
        input_size=(3, 32, 32),
    )


def wrn10_1_fashion() -> ArchitectureSpec:
    """The small WideResNet-10-1 of this project's Fashion-MNIST models (one input channel)."""
    return ArchitectureSpec(
        name="wide_resnet",
        kwargs={"depth": 10, "widen_factor": 1, "num_classes": 10, "in_channels": 1},
        label="WideResNet-10-1 (1 input channel)",
        input_size=(1, 28, 28),
    )
