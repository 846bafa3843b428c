"""Device names checked before any slow work: a missing GPU is one clear error, not a driver traceback."""

from __future__ import annotations

import torch

from .errors import InvalidArgumentError

__all__ = ["checked_device", "parsed_device"]


def parsed_device(device: str | torch.device, *, allow_auto: bool = False) -> torch.device | str:
    """``device`` as a ``torch.device`` (or ``"auto"`` when allowed), its name checked but not the hardware."""
    if allow_auto and device == "auto":
        return "auto"
    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        names = "auto, cpu, cuda, cuda:N, mps" if allow_auto else "cpu, cuda, cuda:N, mps"
        raise InvalidArgumentError(f"device {device!r} is not a device name ({names})") from None


def checked_device(device: str | torch.device, *, local_rank: int = 0) -> torch.device:
    """``device`` as a ``torch.device``; refused when it names hardware this PyTorch cannot use. ``"auto"`` is
    the GPU of this process (``local_rank``, as torchrun numbers them) when there is one, else the CPU."""
    parsed = parsed_device(device, allow_auto=True)
    if parsed == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    assert isinstance(parsed, torch.device)
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
    if parsed.type == "meta":
        raise InvalidArgumentError(f"device {str(device)!r} holds shapes, not values: nothing can be computed on it; "
                                   "use 'cpu' or a GPU")
    if parsed.type not in ("cpu", "cuda", "mps"):
        backend = getattr(torch, parsed.type, None)
        available = getattr(backend, "is_available", None)
        if not callable(available) or not available():
            raise InvalidArgumentError(f"device {str(device)!r} is not available here (this PyTorch has no working "
                                       f"{parsed.type} backend); use 'cpu' or 'cuda'")
    return parsed
