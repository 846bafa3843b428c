"""DeepMind-style WideResNet (Gowal et al. 2020), key-compatible with RobustBench's ``DMWideResNet``.

Used by the IKL-AT WRN-28-10 checkpoints trained with generated data. Differences from the TRADES
WideResNet that matter for loading and for the numbers: BatchNorm momentum 0.01, explicit asymmetric
padding before strided convolutions, and the dataset mean/std applied inside the model. Mean and std are
non-persistent buffers: they follow ``.to(device)`` but are not part of the state dict, exactly as in the
released files.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgumentError
from ..registry import CIFAR10_MEAN, CIFAR10_STD

__all__ = ["DMWideResNet"]

_ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU}


class _Block(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, stride: int, activation: type[nn.Module]) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise InvalidArgumentError(f"stride must be 1 or 2, got {stride}")
        self.batchnorm_0 = nn.BatchNorm2d(in_planes, momentum=0.01)
        self.relu_0 = activation()
        self.conv_0 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=0, bias=False)
        self.batchnorm_1 = nn.BatchNorm2d(out_planes, momentum=0.01)
        self.relu_1 = activation()
        self.conv_1 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_planes, out_planes, 1, stride=stride, padding=0, bias=False)
            if in_planes != out_planes
            else None
        )
        # TensorFlow's "SAME" padding: symmetric for stride 1, right/bottom only for stride 2.
        self._padding = (1, 1, 1, 1) if stride == 1 else (0, 1, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu_0(self.batchnorm_0(x))
        out = self.conv_0(F.pad(activated, self._padding))
        out = self.conv_1(self.relu_1(self.batchnorm_1(out)))
        shortcut = x if self.shortcut is None else self.shortcut(activated)
        return shortcut + out


class _BlockGroup(nn.Module):
    def __init__(
        self, num_blocks: int, in_planes: int, out_planes: int, stride: int, activation: type[nn.Module]
    ) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *[
                _Block(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, activation)
                for i in range(num_blocks)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DMWideResNet(nn.Module):
    """WRN-depth-width with normalisation inside; inputs are [0, 1] images.

    ``width`` is RobustBench's ``DMWideResNet`` argument (the TRADES-style ``WideResNet`` calls the same thing
    ``widen_factor``): each class keeps its source's name, so a RobustBench call carries over unchanged."""

    def __init__(
        self,
        depth: int = 28,
        width: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
        activation: str = "silu",
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise InvalidArgumentError(f"depth must be 6n + 4 with n >= 1 (e.g. 10, 16, 28, 70), got {depth}")
        if activation not in _ACTIVATIONS:
            raise InvalidArgumentError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if len(mean) != in_channels or len(std) != in_channels:
            raise InvalidArgumentError(
                f"mean and std need one value per input channel ({in_channels}), got {len(mean)} and {len(std)}"
            )
        if any(s <= 0 for s in std):
            raise InvalidArgumentError(f"std values must be positive, got {tuple(std)}")
        act = _ACTIVATIONS[activation]
        channels = [16, 16 * width, 32 * width, 64 * width]
        blocks = (depth - 4) // 6
        self.num_classes = num_classes
        self.num_features = channels[3]
        self._mean_values = tuple(float(m) for m in mean)
        self._std_values = tuple(float(s) for s in std)
        self.register_buffer("mean", torch.empty(1, in_channels, 1, 1), persistent=False)
        self.register_buffer("std", torch.empty(1, in_channels, 1, 1), persistent=False)
        self.reset_non_persistent_buffers()
        self.init_conv = nn.Conv2d(in_channels, channels[0], 3, stride=1, padding=1, bias=False)
        self.layer = nn.Sequential(
            _BlockGroup(blocks, channels[0], channels[1], 1, act),
            _BlockGroup(blocks, channels[1], channels[2], 2, act),
            _BlockGroup(blocks, channels[2], channels[3], 2, act),
        )
        self.batchnorm = nn.BatchNorm2d(channels[3], momentum=0.01)
        self.relu = act()
        self.logits = nn.Linear(channels[3], num_classes)

    def reset_non_persistent_buffers(self) -> None:
        """(Re)create mean/std: they are not in the state dict, so a meta-built model needs them made here."""
        device = self.mean.device if not self.mean.is_meta else torch.device("cpu")
        shape = (1, len(self._mean_values), 1, 1)
        self.mean = torch.tensor(self._mean_values, dtype=torch.float32, device=device).view(shape)
        self.std = torch.tensor(self._std_values, dtype=torch.float32, device=device).view(shape)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before pooling and the classifier, B×C×H×W (timm's ``forward_features``:
        ``forward_head`` pools it)."""
        out = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = self.layer(self.init_conv(out))
        return self.relu(self.batchnorm(out))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from ``forward_features``'s output."""
        return self.logits(F.adaptive_avg_pool2d(features, 1).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of [0, 1] images (NCHW)."""
        return self.forward_head(self.forward_features(x))
