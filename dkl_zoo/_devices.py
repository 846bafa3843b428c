"""Device names checked before any slow work, and the package's one device rule.

The rule, for every use case (``predict``, ``attack_image``, ``evaluate``, ``verify``; ``export`` runs on the
CPU by nature): ``device=None`` means where the model's weights already are, and the CPU for a registry name,
which ``load`` builds there. A caller's model is never moved: another device runs a copy there.
"""

from __future__ import annotations

import torch

from .errors import InvalidArgumentError

__all__ = ["checked_device", "parsed_device", "weights_device", "run_device"]


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
        raise InvalidArgumentError(
            f"device {str(device)!r} holds shapes, not values: nothing can be computed on it; use 'cpu' or a GPU"
        )
    if parsed.type not in ("cpu", "cuda", "mps"):
        backend = getattr(torch, parsed.type, None)
        available = getattr(backend, "is_available", None)
        if not callable(available) or not available():
            raise InvalidArgumentError(
                f"device {str(device)!r} is not available here (this PyTorch has no working "
                f"{parsed.type} backend); use 'cpu' or 'cuda'"
            )
    return parsed


def weights_device(model: torch.nn.Module) -> torch.device:
    """Where a model's weights are: its first parameter's device, else its first buffer's, else the CPU."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def run_device(model: torch.nn.Module | None, device: str | torch.device | None) -> torch.device:
    """The device a use case runs on: ``device`` checked, or (None) where ``model``'s weights are, or the CPU
    when there is no model object yet (a registry name).

    Raises:
        InvalidArgumentError: a device name this PyTorch cannot use, or weights on the meta device.
    """
    if device is not None:
        return checked_device(device)
    here = weights_device(model) if model is not None else torch.device("cpu")
    if here.type == "meta":
        raise InvalidArgumentError(
            "the model's weights are on the meta device (shapes without values): load "
            "them first, e.g. with dkl_zoo.load or model.to_empty() and load_state_dict"
        )
    return here
