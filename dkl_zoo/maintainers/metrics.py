"""Measuring an entry's size (torchvision's ``_metrics``/``_ops``/``_file_size``): parameters, GFLOPs per image
and the weights file's size, for ``dkl_zoo.registry._metrics``, where the numbers are kept as data. A test
measures every entry again, so the kept numbers cannot drift from the code."""

from __future__ import annotations

import torch

from ..registry import ModelEntry
from ..registry._metrics import EntryMetrics

__all__ = ["measure"]

RELEASE_SOURCE_SHA256 = "0" * 64
"""Stands for the original file's sha256 that ``dkl-zoo release`` writes into a converted file's metadata: the
same length, so the same file size."""


def measure(entry: ModelEntry) -> EntryMetrics:
    """Parameters and FLOPs from the architecture on fake tensors (no memory, no compute), and the file size of the
    shipped file, or of the file ``dkl-zoo release`` writes (its bytes are built in memory, values aside)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    from ..models import build_model

    with FakeTensorMode(allow_non_fake_inputs=True):
        model = build_model(entry).eval()
        parameters = sum(p.numel() for p in model.parameters())
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.empty((1, *entry.arch.input_size)))
    return EntryMetrics(parameters=parameters, flops=int(counter.get_total_flops()), file_bytes=_file_bytes(entry))


def _file_bytes(entry: ModelEntry) -> int:
    if entry.weights.embedded_file is not None:
        from importlib import resources

        return resources.files("dkl_zoo").joinpath(entry.weights.embedded_file).stat().st_size
    from safetensors.torch import save

    from ..models import build_model
    from ..original.convert import weights_file_content

    shapes = {k: torch.empty(v.shape, dtype=v.dtype) for k, v in build_model(entry, meta=True).state_dict().items()}
    tensors, metadata = weights_file_content(entry, shapes, source_sha256=RELEASE_SOURCE_SHA256)
    return len(save(tensors, metadata=metadata))
