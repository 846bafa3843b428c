"""TRADES-style WideResNet, key-compatible with the released IKL-AT WRN-34-10 files.

The state-dict keys (``conv1``, ``block{1,2,3}.layer.{i}.{bn1,conv1,bn2,conv2,convShortcut}``, ``bn1``, ``fc``)
are those of RobustBench's ``WideResNet(depth=34, widen_factor=10, sub_block1=False)``, so a released file
loads strictly once its wrapper and prefixes are stripped. Inputs are [0, 1] images; there is no
normalisation (the released models were trained without one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgumentError

__all__ = ["WideResNet"]


class _BasicBlock(nn.Module):
    """Pre-activation block; the shortcut convolution exists only when the width changes."""

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = (
            None if self.equal_in_out else nn.Conv2d(in_planes, out_planes, 1, stride=stride, padding=0, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(activated)))
        out = self.conv2(out)
        # As released: an identity shortcut adds the raw input, a projection sees the activated one.
        shortcut = x if self.convShortcut is None else self.convShortcut(activated)
        return shortcut + out


class _NetworkBlock(nn.Module):
    def __init__(self, num_layers: int, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            *[
                _BasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1)
                for i in range(num_layers)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-depth-width as in TRADES / RobustBench (ReLU, no input normalisation); ``widen_factor`` is RobustBench's
    name for the width (its ``DMWideResNet`` calls it ``width``).

    Any ``depth`` with ``(depth - 4) % 6 == 0`` works, so tests can use WRN-10-1.
    """

    def __init__(
        self,
        depth: int = 34,
        widen_factor: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise InvalidArgumentError(f"depth must be 6n + 4 with n >= 1 (e.g. 10, 16, 28, 34), got {depth}")
        if widen_factor < 1 or num_classes < 2 or in_channels < 1:
            raise InvalidArgumentError(
                f"need widen_factor >= 1, num_classes >= 2, in_channels >= 1; got "
                f"{widen_factor}, {num_classes}, {in_channels}"
            )
        layers_per_block = (depth - 4) // 6
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.num_classes = num_classes
        self.num_features = channels[3]
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, stride=1, padding=1, bias=False)
        self.block1 = _NetworkBlock(layers_per_block, channels[0], channels[1], 1)
        self.block2 = _NetworkBlock(layers_per_block, channels[1], channels[2], 2)
        self.block3 = _NetworkBlock(layers_per_block, channels[2], channels[3], 2)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(channels[3], num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation of the released code (Kaiming fan-out for convolutions, zero fc bias).

        Skipped on the meta device, where weights are assigned afterwards anyway: torch's init functions
        import torch._dynamo on first use, which costs seconds on a first load of a 77k-parameter model.
        """
        if self.conv1.weight.is_meta:
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before pooling and the classifier, B×C×H×W (timm's ``forward_features``:
        ``forward_head`` pools it)."""
        out = self.conv1(x)
        out = self.block3(self.block2(self.block1(out)))
        return self.relu(self.bn1(out))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from ``forward_features``'s output."""
        # Global average pooling equals the released avg_pool2d(8) on 32x32 inputs and also works on 28x28.
        pooled = F.adaptive_avg_pool2d(features, 1).flatten(1)
        return self.fc(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of [0, 1] images (NCHW)."""
        return self.forward_head(self.forward_features(x))
