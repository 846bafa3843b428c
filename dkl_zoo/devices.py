"""Device names checked before any slow work: a missing GPU is one clear error, not a driver traceback."""

from __future__ import annotations

import torch

from .errors import InvalidArgumentError

__all__ = ["checked_device"]


def checked_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``; refused when it names hardware this PyTorch cannot use."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidArgumentError(f"device {device!r} is not a device name (cpu, cuda, cuda:N, mps)") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidArgumentError(
                f"device {str(device)!r} was asked for, but PyTorch sees no CUDA device here; use device='cpu', "
                "or a CUDA build of PyTorch on a GPU machine"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise InvalidArgumentError(
                f"device {str(device)!r} does not exist ({torch.cuda.device_count()} CUDA device(s))"
            )
    if parsed.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise InvalidArgumentError(f"device {str(device)!r} was asked for, but MPS is not available here")
    return parsed
