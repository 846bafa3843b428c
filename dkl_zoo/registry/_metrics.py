"""Each entry's size, as data (torchvision's ``_metrics``, ``_ops`` and ``_file_size`` of its weights enums):
measured by ``dkl_zoo.maintainers.metrics.measure``, and measured again by the tests, so these numbers cannot
drift from the architectures and the files.

- ``parameters``: the model's parameters (buffers such as batch norm's running statistics not counted).
- ``flops``: floating-point operations of one forward pass of one image at the entry's input size, as
  ``torch.utils.flop_counter`` counts them: a multiply-add is two operations (``gflops``: in 1e9). torchvision's
  ``_ops`` counts a multiply-add once (its GFLOPs are these halved). Convolutions and linear layers only.
- ``file_bytes``: the weights file (``model.safetensors``): the shipped file, or the one ``dkl-zoo release``
  writes from the original checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["EntryMetrics", "METRICS"]


@dataclass(frozen=True)
class EntryMetrics:
    """An entry's size: parameters, GFLOPs per image (a multiply-add counts two) and weights file bytes."""

    parameters: int
    flops: int
    file_bytes: int

    @property
    def gflops(self) -> float:
        """``flops`` in 1e9 (a multiply-add counts two)."""
        return self.flops / 1e9

    @property
    def file_mb(self) -> float:
        """The weights file in MB (1e6 bytes)."""
        return self.file_bytes / 1e6

    def describe(self) -> str:
        """One line, for ``dkl-zoo info`` and the model cards."""
        return (
            f"{self.parameters / 1e6:.3g} M parameters, {self.gflops:.3g} GFLOPs per image (a multiply-add counts "
            f"2), weights file {self.file_mb:.1f} MB"
        )


METRICS: Mapping[str, EntryMetrics] = MappingProxyType(
    {
        "gkl-at-cifar100-wrn28-50m": EntryMetrics(parameters=36536884, flops=10486772736, file_bytes=146235536),
        "ikl-at-cifar10-wrn28-20m": EntryMetrics(parameters=36479194, flops=10486657536, file_bytes=146004768),
        "ikl-at-cifar10-wrn34": EntryMetrics(parameters=46160474, flops=13317812736, file_bytes=184750176),
        "ikl-at-cifar100-wrn28-50m": EntryMetrics(parameters=36536884, flops=10486772736, file_bytes=146235536),
        "ikl-at-cifar100-wrn34": EntryMetrics(parameters=46218164, flops=13317927936, file_bytes=184980936),
        "ikl-at-cifar100-wrn34-autoaug": EntryMetrics(parameters=46218164, flops=13317927936, file_bytes=184980944),
        "ikl-at-cifar100-wrn34-v2": EntryMetrics(parameters=46218164, flops=13317927936, file_bytes=184980944),
        "ikl-at-fmnist-wrn10-1": EntryMetrics(parameters=77562, flops=18691840, file_bytes=316416),
        "standard-fmnist-wrn10-1": EntryMetrics(parameters=77562, flops=18691840, file_bytes=316416),
    }
)
"""Entry name → its size."""
